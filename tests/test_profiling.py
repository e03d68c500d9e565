"""`python -m profiling run` writes a summary and a trace that torch-tb-profiler's own loader
(the TensorBoard plugin's RunLoader) parses into a profile."""
from __future__ import annotations

import subprocess
import sys

from golden_util import ROOT


def test_profile_run_summary_and_tensorboard_trace(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "profiling", "run", "--case", "ci_W1", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = (tmp_path / "summary.md").read_text()
    for item in ("wall time", "pixel-steps/s", "time share: setup", "accumulate", "peak resident memory",
                 "synchronisations", "launches per image", "parity:", "Top operators"):
        assert item in summary, item
    traces = list(tmp_path.glob("*.pt.trace.json"))
    assert len(traces) == 1

    from torch_tb_profiler import io as tb_io
    from torch_tb_profiler.profiler.loader import RunLoader
    run = RunLoader("nanobrag", str(tmp_path), tb_io.Cache(str(tmp_path / "cache"))).load()
    profiles = list(run.get_profiles())
    assert profiles, "the TensorBoard profiler plugin could not load the trace"
    assert any(getattr(p, "worker", None) for p in profiles)
