"""The command line: drop-in behaviour, files written, and clean failures on bad input."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from golden_util import GOLDEN, cases
from nanobrag_torch.cli import main

CUBIC = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 32".split()


def run_cli(args, cwd, capsys=None):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return main(list(args))
    finally:
        os.chdir(old)


def test_writes_the_c_default_files(tmp_path, capsys):
    assert run_cli(CUBIC + ["-seed", "3"], tmp_path) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["floatimage.bin", "image.pgm", "intimage.img", "noiseimage.img"]
    img = np.fromfile(tmp_path / "floatimage.bin", dtype="<f4")
    assert img.size == 32 * 32 and img.max() > 0
    out = capsys.readouterr().out
    assert "mosflm convention selected." in out and "noise seed: 3" in out


def test_floatfile_matches_golden(tmp_path):
    case = next(c for c in cases() if c["name"] == "hkl_file")
    args = [a.replace("inputs/", str(GOLDEN / "inputs") + "/") for a in case["physics_args"]]
    assert run_cli(args + ["-floatfile", "f.bin", "-nonoise", "-nopgm", "-intfile", "i.img"], tmp_path) == 0
    ours = np.fromfile(tmp_path / "f.bin", dtype="<f4").reshape(case["shape_slow_fast"])
    ref = np.load(GOLDEN / case["file"])["floatimage"]
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.9999


@pytest.mark.parametrize("args, message", [
    (CUBIC + ["-mosaic_domian", "3"], "unknown flag -mosaic_domian; did you mean -mosaic_domains?"),
    (CUBIC + ["-lambda", "abc"], "-lambda: expected a number, got 'abc'"),
    (CUBIC + ["-detpixels", "-5"], "-detpixels: must not be negative"),
    (CUBIC + ["-N"], "-N: expects 1 value(s), got 0"),
    (CUBIC + ["-hkl", "missing.hkl"], "missing.hkl"),
    (CUBIC + ["-pivot", "middle"], "-pivot: expected 'sample' or 'beam'"),
    ("-default_F 100 -N 5".split(), "no unit cell"),
    ("-cell 100 100 100 90 90 90 -N 5".split(), "no structure factors"),
    (CUBIC + ["-backend", "triton"], "-backend triton: cannot run"),
    (CUBIC + ["-cell", "10", "10", "10", "90", "90", "200"], "angles in (0, 180) degrees"),
    (CUBIC + ["-cell", "10", "10", "10", "170", "100", "100"], "impossible unit cell"),
])
def test_bad_input_one_line_no_files(tmp_path, capsys, args, message):
    assert run_cli(args, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("nanoBragg: error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nanobrag_torch", *CUBIC, "-nonoise", "-nopgm",
                           "-intfile", "x.img", "-floatfile", "x.bin"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.bin").stat().st_size == 32 * 32 * 4


def test_help_lists_every_flag(capsys):
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    for flag in ("-mosaic_domains", "-detector_thicksteps", "-oversample_omega", "-quirks", "-backend"):
        assert flag in out
