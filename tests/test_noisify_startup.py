"""The noisify command line starts without torch (issue 13, acceptance 2: whole-process time
against noisify.c): a run in a fresh interpreter imports neither torch nor triton, nor
scipy.linalg (numba's BLAS probe, skipped by `lazy_numba`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import nanobrag_torch

_PROBE = """
import runpy, sys
import nanobrag_torch.errors as errors
def report_exit(status):                    # instead of ending the process: report it here
    raise SystemExit(status)
errors.exit_now = report_exit
sys.argv = ["noisify"] + sys.argv[1:]
try:
    runpy.run_module("nanobrag_torch.noisify", run_name="__main__")
except SystemExit as exit:
    assert not exit.code, exit.code
heavy = sorted(m for m in ("torch", "triton", "scipy.linalg") if m in sys.modules)
print("HEAVY", heavy)
"""


def _probe(args: list, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(Path(nanobrag_torch.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1]


def test_help_imports_no_torch(tmp_path):
    assert _probe(["--help"], tmp_path) == "HEAVY []"


def test_noise_and_psf_run_imports_no_torch(tmp_path):
    np.full(16 * 16, 20.0, dtype="<f4").tofile(tmp_path / "in.bin")
    args = "-floatfile in.bin -detpixels 16 -seed 3 -readout 2 -flicker 0.1 -psf gauss -psf_fwhm 100"
    assert _probe(args.split(), tmp_path) == "HEAVY []"
