"""nearBragg command line: bad input gives one line on stderr, status 2 and no file
(``c`` keeps what a golden case shows the C accepting, ``fixed`` refuses it); the files and
printed counts of a normal run; gradients with respect to atom positions, occupancies and B
factors (gradcheck, float64)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nanobrag_torch.nearbragg import engine
from nanobrag_torch.nearbragg.cli import main
from nanobrag_torch.nearbragg.geometry import setup
from nanobrag_torch.nearbragg.render import render
from nanobrag_torch.nearbragg.run import parse

GOLDEN = Path(__file__).parent / "golden" / "nearbragg"
CASES = {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())["cases"]}
TINY = ["-detpixels", "4", "-pixel", "0.1", "-distance", "1", "-oversample", "1", "-noprogress"]


def run(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    status = main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def atoms(tmp_path, text: bytes | str, name="atoms.txt") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return name


def clean(tmp_path, *names):
    for name in names or ("floatimage.bin", "intimage.img"):
        (tmp_path / name).unlink()


def assert_error(status, err, pattern, tmp_path, keep=("atoms.txt",)):
    assert status == 2 and err.count("\n") == 1 and err.startswith("nearBragg: error:"), err
    assert pattern in err, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in keep) == [], "files written"


@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_missing_atom_file(tmp_path, monkeypatch, capsys, quirks):
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", "nope.txt", *TINY, "-quirks", quirks])
    assert_error(status, err, "nope.txt: cannot read", tmp_path)


def test_no_file_flag_and_unknown_flag(tmp_path, monkeypatch, capsys):
    status, _, err = run(tmp_path, monkeypatch, capsys, TINY)
    assert_error(status, err, "no atom file", tmp_path)
    name = atoms(tmp_path, "1 2 3\n")
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, "-detpixel", "4"])
    assert_error(status, err, "unknown flag -detpixel; did you mean -detpixels?", tmp_path)


def test_malformed_atom_file_c_keeps_fixed_refuses(tmp_path, monkeypatch, capsys):
    name = atoms(tmp_path, "CA 25 -70 1.5\n1 2 3\n")
    status, out, _ = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY])
    assert status == 0 and "counted 2 atoms" in out          # the C's atof reads CA as 0
    clean(tmp_path)
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-quirks", "fixed"])
    assert_error(status, err, "atoms.txt line 1: 'CA' is not a number", tmp_path)


@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_non_finite_atom(tmp_path, monkeypatch, capsys, quirks):
    name = atoms(tmp_path, "1 2 3\nnan 0 0\n")
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-quirks", quirks])
    assert_error(status, err, "atoms.txt line 2: non-finite atom value", tmp_path)


def test_empty_atom_file_c_keeps_fixed_refuses(tmp_path, monkeypatch, capsys):
    name = atoms(tmp_path, "\n  \n")
    status, _, _ = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY])
    assert status == 0
    assert not np.fromfile(tmp_path / "floatimage.bin", "<f4").any()
    clean(tmp_path)
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-quirks", "fixed"])
    assert_error(status, err, "no atoms in the file", tmp_path)


@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_atom_at_source(tmp_path, monkeypatch, capsys, quirks):
    name = atoms(tmp_path, "0 0 0\n-1e7 0 0\n")
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-source_distance", "1",
                                                         "-quirks", quirks])
    assert_error(status, err, "atom sits exactly at the source point", tmp_path)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_atom_on_pixel(tmp_path, monkeypatch, capsys, dtype):
    # -detpixels 1, pixel = distance = 1e-7 m: the pixel centre is (d, pixel/2, pixel/2)
    d = 1e-4 / 1000.0                   # as the C converts "-pixel 1e-4" (mm)

    def in_A(x):                        # the file value X with X/1e10 == x exactly
        for cand in (x * 1e10, np.nextafter(x * 1e10, 0), np.nextafter(x * 1e10, 1e9)):
            if cand / 1e10 == x:
                return repr(float(cand))
        raise AssertionError(x)
    name = atoms(tmp_path, f"0 0 0\n{in_A(d)} {in_A(d - d / 2)} {in_A(d / 2)}\n")
    argv = ["-file", name, "-detpixels", "1", "-pixel", "1e-4", "-distance", "1e-4", "-oversample", "1",
            "-dtype", dtype]
    status, _, err = run(tmp_path, monkeypatch, capsys, argv)
    assert_error(status, err, "atom sits exactly on a detector pixel position", tmp_path)


def test_short_accumulate_file(tmp_path, monkeypatch, capsys):
    name = atoms(tmp_path, "0 0 0\n10 20 30\n")
    (tmp_path / "floatimage.bin").write_bytes(b"\0" * 40)
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-accumulate"])
    assert_error(status, err, "floatimage.bin: -accumulate: 40 bytes, expected 64", tmp_path,
                 keep=("atoms.txt", "floatimage.bin"))
    assert (tmp_path / "floatimage.bin").read_bytes() == b"\0" * 40


def test_missing_accumulate_files_c_warns_fixed_refuses(tmp_path, monkeypatch, capsys):
    name = atoms(tmp_path, "0 0 0\n10 20 30\n")
    argv = ["-file", name, *TINY, "-coherent", "-accumulate"]
    status, out, _ = run(tmp_path, monkeypatch, capsys, argv)
    assert status == 0 and "WARNING: no sinimage.bin sin-file to read!" in out
    clean(tmp_path, "floatimage.bin", "intimage.img", "sinimage.bin", "cosimage.bin")
    status, _, err = run(tmp_path, monkeypatch, capsys, argv + ["-quirks", "fixed"])
    assert_error(status, err, "sinimage.bin: -accumulate: no sin file to read", tmp_path)


def test_unwritable_output_checked_first(tmp_path, monkeypatch, capsys):
    name = atoms(tmp_path, "0 0 0\n")
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-intfile", "no/dir/x.img"])
    assert_error(status, err, "no/dir/x.img: cannot write output file", tmp_path)


def test_printed_counts_match_the_c(tmp_path, monkeypatch, capsys):
    """Oversample (auto), divergence points, wavelengths and depth planes as the C printed."""
    for name in ("divergence_alias_hstep_vsteps", "divsteps_only_one_radian", "source_depth_auto_two_steps"):
        case = CASES[name]
        s = parse(case["physics_args"])
        from nanobrag_torch.io.atoms import read_atoms
        g = setup(s, read_atoms(GOLDEN / case["physics_args"][1], "c").extent_A())
        printed = case["c_printed"]
        assert len(g.divs) == printed["divergence_steps"]
        assert ["%g %g" % d for d in g.divs] == printed["divergence_deviations"]
        assert ["%.15g" % lam for lam in g.lambdas] == printed["lambdas"]
        assert ["%g" % (d * 1e10) for d in g.depths] == printed["depths_A"]
        assert g.oversample == printed["oversample"]


def test_gradcheck_positions_occupancy_B():
    """d(image)/d(atom xyz, occupancy, B) in float64 on a 2x2 detector, 3 atoms (fixed mode:
    c mode keeps the C's rounding of the 1 mm source path, 1e-8 rad steps that finite
    differences of 1e-6 A would see)."""
    s = parse(["-file", "x", "-detpixels", "2", "-pixel", "0.1", "-distance", "1", "-source_distance", "1",
               "-oversample", "1"])
    g = setup(s, 20.0)
    xyz0 = torch.tensor([[0.0, 0.0, 0.0], [12.0, -7.0, 5.0], [-4.0, 9.0, -11.0]], dtype=torch.float64) * 1e-10

    def image(xyz, occ, B):
        a = engine.AtomArrays(xyz, occ, B, torch.full((3,), -1.5707963, dtype=torch.float64))
        return render(g, a, coherent=False, fixed=True, polarization=True, dtype=torch.float64,
                      fluence=1e20).image

    xyz = xyz0.clone().requires_grad_()
    occ = torch.tensor([1.0, 0.7, 1.3], dtype=torch.float64, requires_grad=True)
    B = torch.tensor([0.0, 20.0, 5.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, o, b: image(x * 1e-10, o, b), (xyz / 1e-10, occ, B),
                                    eps=1e-6, atol=1e-8, rtol=1e-4)


def test_python_m_entry_point(tmp_path):
    import os
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "src"), str(root / "kernels")]))
    proc = subprocess.run([sys.executable, "-m", "nanobrag_torch.nearbragg", "-file", "missing.txt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stderr.strip() == "nearBragg: error: missing.txt: cannot read: No such file or directory"


@pytest.mark.parametrize("name", ["printout_pixel_debug", "printout_all_detsize"])
def test_printout_blocks_match_the_c(name, tmp_path, monkeypatch, capsys):
    """-printout / -printout_pixel blocks and the -debug per-atom trace against the C's
    stdout (numbers to 1e-6)."""
    import re
    case = CASES[name]
    log = (GOLDEN / case["stdout_log"]).read_text().splitlines()
    monkeypatch.chdir(GOLDEN)
    assert main(case["physics_args"] + ["-dtype", "float64", "-floatfile", str(tmp_path / "f.bin"),
                                        "-intfile", str(tmp_path / "i.img")]) == 0
    ours = capsys.readouterr().out.splitlines()

    def blocks(lines):
        starts = [i for i, line in enumerate(lines) if ": stol =" in line]
        return [lines[i:i + 6] for i in starts] + [[line for line in lines if " -> " in line]]
    theirs, mine = blocks(log), blocks(ours)
    assert len(mine) == len(theirs) > 0
    number = re.compile(r"-?\d+\.?\d*(?:e[+-]?\d+)?")
    for a, b in zip(mine, theirs):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert number.sub("#", x) == number.sub("#", y), (x, y)
            np.testing.assert_allclose([float(v) for v in number.findall(x)],
                                       [float(v) for v in number.findall(y)], rtol=1e-6, atol=1e-300)


def test_huge_detector_refused_up_front(tmp_path, monkeypatch, capsys):
    name = atoms(tmp_path, "0 0 0\n")
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, "-detpixels", "1000000"])
    assert_error(status, err, "a 1000000x1000000-pixel detector needs about 48 TB", tmp_path)


def test_compiled_block_matches_eager(monkeypatch):
    """The AOTInductor-compiled block (B-factor variant, float32) against the eager engine;
    a corrupt package already in the cache is moved aside and rebuilt (one build per run)."""
    from nanobrag_torch.backends import aot_cache
    from nanobrag_torch.nearbragg import compiled as package
    from nanobrag_torch.nearbragg import simulate_near
    args = CASES["occ_B_phase_columns"]["physics_args"] + ["-roi", "50", "69", "50", "59"]
    monkeypatch.chdir(GOLDEN)
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")
    eager = simulate_near(args).floatimage
    path = package._path(torch.float32, True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a package")
    aot_cache._loaded.pop(str(path), None)
    monkeypatch.setenv("NANOBRAG_COMPILE", "1")
    compiled = simulate_near(args).floatimage
    assert path.with_suffix(".bad").read_bytes() == b"not a package"          # rejected
    assert aot_cache._loaded.get(str(path)) is not None                         # really compiled
    assert np.abs(compiled - eager).max() <= 1e-5 * eager.max() and eager.max() > 0


def test_device_and_backend_refusals(tmp_path, monkeypatch, capsys):
    name = atoms(tmp_path, "0 0 0\n")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-backend", "triton"])
    assert_error(status, err, "-backend triton: cannot run: device is cpu", tmp_path)
    if not torch.cuda.is_available():
        status, _, err = run(tmp_path, monkeypatch, capsys, ["-file", name, *TINY, "-device", "cuda"])
        assert_error(status, err, "-device cuda: no CUDA device is available", tmp_path)
