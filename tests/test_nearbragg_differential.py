"""Regressions found by differential fuzzing of nearBragg.c against our nearBragg command
line; expected values follow the C's code (line numbers of upstream nearBragg.c)."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.nearbragg.cli import main
from nanobrag_torch.nearbragg.geometry import setup
from nanobrag_torch.nearbragg.run import parse

PI = 3.14159265358979            # nearBragg.c line 22
RTD = 180.0 / PI                 # line 24


def test_units_are_divided_as_the_c_does():
    """The C converts with a division (``atof(x)/1000.0``, ``/RTD``, ``/1.0e10``, ``/100.0``;
    lines 157-338); ``x*1e-3`` differs in the last bit for ~13 % of 3-decimal values, which
    moved the pixel count (``ceil(detsize/pixel)``, line 485: 6.536/0.172 mm gives 38 pixels,
    not 39) and the phase of every atom (a 1-ulp change of twotheta, Xbeam or lambda)."""
    argv = ["-file", "x", "-pixel", "0.172", "-detsize", "6.536", "-distance", "100.3",
            "-Xbeam", "1.766", "-Ybeam", "2.501", "-twotheta", "18.61", "-wave", "0.558",
            "-dispersion", "0.3", "-hdivrange", "0.7", "-vdivrange", "0.9", "-hdivstep", "0.3",
            "-vdivstep", "0.1", "-phi", "12.3"]
    s = parse(argv)
    assert (s.pixel_m, s.detsize_x_m, s.detsize_y_m) == (0.172 / 1000.0, 6.536 / 1000.0, 6.536 / 1000.0)
    assert (s.distance_m, s.Xbeam_m, s.Ybeam_m) == (100.3 / 1000.0, 1.766 / 1000.0, 2.501 / 1000.0)
    assert (s.twotheta_rad, s.phi0_rad) == (18.61 / RTD, 12.3 / RTD)
    assert (s.lambda0_m, s.dispersion) == (0.558 / 1.0e10, 0.3 / 100.0)
    assert (s.hdivrange_rad, s.vdivrange_rad, s.hdivstep_rad, s.vdivstep_rad) == (
        0.7 / 1000.0, 0.9 / 1000.0, 0.3 / 1000.0, 0.1 / 1000.0)
    g = setup(s, 10.0)
    assert g.xpixels == g.ypixels == math.ceil((6.536 / 1000.0) / (0.172 / 1000.0)) == 38
    d = parse(["-file", "x", "-divergence", "0.7"])
    assert d.hdivrange_rad == d.vdivrange_rad == 0.7 / 1000.0


FIXTURE = Path(__file__).parent / "golden" / "differential" / "nearbragg"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())
INPUTS = Path(__file__).parent / "golden" / "nearbragg" / "inputs"


def _ours(args: str) -> list:
    argv = args.split() + MANIFEST["output_flags_appended"][:5]
    return ["-dtype", "float64"] + argv + (MANIFEST["output_flags_appended"][5:] if "-coherent" in argv else [])


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda c: c["name"])
def test_against_c_fixture(case, tmp_path, monkeypatch, capsys):
    """Small C runs (generate.py): every file byte for byte and the stdout line for line
    (our banner and backend lines left out), in float64 ``-quirks c``.  Covers the unit
    divisions, the curved detector's glibc sin/cos, an empty ROI, the -accumulate import and
    missing-file lines, the float32 product F_old x steps of coherent -accumulate, ``-debug``
    "blank" lines, ``-printout_pixel -1 y`` (every pixel) and "max_I = .. at X Y"."""
    (tmp_path / "inputs").symlink_to(INPUTS.resolve())
    monkeypatch.chdir(tmp_path)
    for pre in case["pre_runs"]:
        assert main(_ours(pre)) == 0
    capsys.readouterr()
    assert main(_ours(case["args"])) == 0
    out = [line for line in capsys.readouterr().out.splitlines()[1:] if "  backend: " not in line]
    assert out == case["stdout"]
    for name, digest in case["sha256"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("limit", [None, float("inf")], ids=["upgraded", "float32_kept"])
def test_float32_render_of_a_long_reach_is_computed_in_float64(limit, tmp_path, monkeypatch):
    """k max|a| = 1.5e4 rad (lattice_1000.txt at 0.1 A) is beyond `F32_PHASE_LIMIT`: the
    default (float32) render computes in float64 and writes the C's bytes; held in float32
    (the limit lifted) its phases round by ~1e-3 rad a term and the float file differs."""
    from nanobrag_torch.nearbragg import engine
    case = next(c for c in MANIFEST["cases"] if c["name"] == "float32_upgraded_short_wavelength")
    if limit is not None:
        monkeypatch.setattr(engine, "F32_PHASE_LIMIT", limit)
    (tmp_path / "inputs").symlink_to(INPUTS.resolve())
    monkeypatch.chdir(tmp_path)
    assert main(case["args"].split() + MANIFEST["output_flags_appended"][:5]) == 0
    same = hashlib.sha256((tmp_path / "float.bin").read_bytes()).hexdigest() == case["sha256"]["float.bin"]
    assert same == (limit is None)


def test_divergence_cut_to_nothing_is_refused(tmp_path, monkeypatch, capsys):
    """``-hdivrange 0.74 -vdivrange 0.76 -hdivstep 1 -vdivstep 1``: ceil(0.74/1) = 1 point
    per axis (523-557), at -0.37 / -0.38 mrad, which the elliptical cut drops (4 x (0.25 +
    0.25) > 1.1, 1048-1050): the C divides every pixel by steps = 0 (NaN image, 1169).  We
    refuse with one line, status 2 and no file."""
    (tmp_path / "a.txt").write_text("0 0 0\n10 0 0\n")
    monkeypatch.chdir(tmp_path)
    status = main(["-file", "a.txt", "-detpixels", "4", "-hdivrange", "0.74", "-vdivrange", "0.76",
                   "-hdivstep", "1", "-vdivstep", "1", "-noprogress"])
    err = capsys.readouterr().err
    assert status == 2 and "elliptical cut leaves no divergence point" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_fixed_empty_roi_refused():
    """quirks N12: ``-quirks fixed`` refuses an ROI without pixels (``c`` renders nothing)."""
    s = parse(["-file", "x", "-detpixels", "12", "-roi", "5", "2", "0", "3", "-quirks", "fixed"])
    with pytest.raises(NanoBraggError, match="selects no pixel"):
        setup(s, 10.0)
    assert setup(parse(["-file", "x", "-detpixels", "12", "-roi", "5", "2", "0", "3"]), 10.0).roi == (5, 2, 0, 3)


def test_atom_file_hexadecimal_numbers(tmp_path):
    """The C reads columns with atof (lines 770-812), i.e. glibc strtod, which converts
    hexadecimal numbers: "0x10" is 16, "-0X1.8p3" is -12, "0x.8" 0.5, "0xg" 0 (then the
    tokenizer skips the rest of the word: numberstuf has no 'x')."""
    from nanobrag_torch.io.atoms import read_atoms
    path = tmp_path / "a.txt"
    path.write_text("0x10 3 4\n-0X1.8p3 0x.8 0xg 2\n")
    values = read_atoms(path, "c").values
    assert values[0, :3].tolist() == [16.0, 3.0, 4.0]
    assert values[1, :4].tolist() == [-12.0, 0.5, 0.0, 2.0]


def test_fixed_source_distance_last_wins():
    """quirks N13: ``-source_distance far -source_distance 0.0281`` stays far in ``c`` (the C
    never clears far_source, lines 250-259; fixture case source_far_then_mm), the mm value
    wins in ``fixed``."""
    argv = ["-file", "x", "-source_distance", "far", "-source_distance", "0.0281"]
    c, fixed = parse(argv), parse(argv + ["-quirks", "fixed"])
    assert c.far_source and c.source_distance_m == 0.0281 / 1000.0
    assert not fixed.far_source and fixed.source_distance_m == 0.0281 / 1000.0


def test_omega_sum_in_the_c_order(tmp_path, monkeypatch):
    """The printed "solid angle" is omega_sum += omega_Rsqr_pixel for ROI pixels in image
    order, then suby, then subz (lines 964-1033), added one by one."""
    import torch

    from nanobrag_torch.nearbragg.render import positions
    from nanobrag_torch.nearbragg.run import simulate_near
    (tmp_path / "a.txt").write_text("0 0 0\n30 -20 10\n")
    monkeypatch.chdir(tmp_path)
    r = simulate_near(["-file", "a.txt", "-detpixels", "20", "-oversample", "3", "-roi", "2", "17",
                       "1", "15", "-dtype", "float64"])
    total = 0.0
    for y in range(1, 16):
        for x in range(2, 18):
            for sy in range(3):
                for sz in range(3):
                    total += float(positions(r.setup, torch.tensor([x]), torch.tensor([y]), sy, sz)[1][0])
    assert r.result.omega_sum == total
