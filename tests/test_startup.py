"""Start-up: a plain render, or one with mosaic domains (a few draws of the C's generator,
made in plain Python), imports none of numba, triton, h5py, fabio (each is imported only by
the feature that needs it: noise images, the Triton backend, datasets)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nanobrag_torch

PROBE = """
import json, sys
from nanobrag_torch.cli import main
main(["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5",
      "-lambda", "6.2", "-distance", "100", "-detpixels", "8", "-nonoise", "-nopgm",
      "-floatfile", sys.argv[1], "-intfile", sys.argv[2], *sys.argv[3:]])
print(json.dumps(sorted(m for m in ("numba", "triton", "h5py", "fabio") if m in sys.modules)))
"""


@pytest.mark.parametrize("extra", [[], ["-mosaic", "0.5", "-mosaic_domains", "10", "-mosaic_seed", "1"]])
def test_plain_render_imports_no_optional_heavy_module(tmp_path, extra):
    src = str(Path(nanobrag_torch.__file__).resolve().parents[1])      # this checkout's package
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "f.bin"), str(tmp_path / "i.img"), *extra],
                         capture_output=True, text=True, check=True, cwd=tmp_path, env=env).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
    assert (tmp_path / "f.bin").stat().st_size == 8 * 8 * 4


WAIT_PROBE = """
import os, runpy, sys
import nanobrag_torch.errors as errors
errors.exit_now = lambda status: None          # report here instead of ending the process
assert "torch" not in sys.modules
import gc
errors.freeze_objects()
host_frozen = gc.get_freeze_count()            # a host process: nothing frozen
sys.argv = ["nanoBragg", "-h"]
runpy.run_module("nanobrag_torch", run_name="__main__")
print(os.environ.get("OMP_WAIT_POLICY"), os.environ.get("OPENBLAS_NUM_THREADS"), host_frozen,
      gc.get_freeze_count() > 100_000)
"""


@pytest.mark.parametrize("given, expected", [((None, None), "PASSIVE 1"), (("ACTIVE", "4"), "ACTIVE 4")])
def test_programs_wait_passively_unless_told(given, expected):
    """The programs set OpenMP's passive wait and one OpenBLAS thread unless the user chose,
    and freeze their imports' objects (`errors.freeze_objects`), which a host process does not."""
    names = ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update({k: v for k, v in zip(names, given) if v})
    out = subprocess.run([sys.executable, "-c", WAIT_PROBE], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == expected + " 0 True"
