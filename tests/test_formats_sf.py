"""Structure factors from crystallographers' files (issue 15, acceptance 1, 2 and 5).

1. -mtz renders equal renders of the P1 .hkl that nb-hkl exports (and, when NANOBRAG_C_BIN
   names nanoBragg.c's binary, the C's render of it); the exported list equals a numpy
   expansion by the space group's operators written out by hand, Friedel mates included.
2. -model |F| equal a direct numpy sum over the cell's atoms with the same form factors.
5. Bad files give a one-line error and write nothing.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_util import eager_engine, run_cli  # noqa: F401
from golden_util import ROOT, TOL, parity, passes
from nanobrag_torch.p1hkl import main as nb_hkl
from nanobrag_torch.simulate import simulate

gemmi = pytest.importorskip("gemmi")
sys.path.insert(0, str(ROOT / "examples"))
from formats_inputs import MTZ_CASES, THREE_ATOMS, make_mtz  # noqa: E402

GEOMETRY = "-lambda 1.0 -distance 60 -detpixels 48 -pixel 0.5 -N 4 -misset 10 20 30 -oversample 1".split()

# Operators written out from International Tables vol. A (rotation part acting on x y z).
HAND_OPS = {
    "P 21 21 21": ["x,y,z", "-x,-y,z", "-x,y,-z", "x,-y,-z"],
    "P 43 21 2": ["x,y,z", "-y,x,z", "-x,-y,z", "y,-x,z", "x,-y,-z", "-y,-x,-z", "-x,y,-z", "y,x,-z"],
}


def _matrix(triplet: str) -> np.ndarray:
    """Rotation matrix of an operator 'x,-y,z' (translations do not change |F|)."""
    rows = []
    for part in triplet.split(","):
        row = [0, 0, 0]
        for sign, axis in zip(*[iter(part if part[0] == "-" else "+" + part)] * 2):
            row["xyz".index(axis)] = 1 if sign == "+" else -1
        rows.append(row)
    return np.array(rows)


def _hand_expansion(hkl, F, sg_name) -> dict:
    """{(h, k, l): F} over every operator and its Friedel mate, by loops."""
    out = {}
    for (h, k, l), f in zip(hkl.tolist(), F.tolist()):
        for op in HAND_OPS[sg_name]:
            m = np.array([h, k, l]) @ _matrix(op)
            for mate in (tuple(int(x) for x in m), tuple(int(-x) for x in m)):
                out.setdefault(mate, f)
    return out


def _nb_hkl(args, cwd: Path) -> tuple:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return nb_hkl([str(a) for a in args])
    finally:
        os.chdir(old)


@pytest.fixture(scope="module", params=sorted(MTZ_CASES))
def mtz_case(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("mtz")
    sg, cell = MTZ_CASES[request.param]
    hkl, F = make_mtz(d / request.param, sg, cell)
    assert _nb_hkl(["-mtz", request.param, "-hklout", "P1.hkl", "-dumpout", "Fdump.bin"], d) == 0
    return d, request.param, sg, cell, hkl, F[:, 0]


def test_exported_p1_equals_hand_expansion(mtz_case):
    d, _, sg, _, hkl, F = mtz_case
    expected = _hand_expansion(hkl, F, sg)
    rows = np.loadtxt(d / "P1.hkl")
    got = {tuple(int(x) for x in r[:3]): r[3] for r in rows}
    assert len(rows) == len(got) == len(expected)
    assert set(got) == set(expected)
    keys = sorted(expected)
    np.testing.assert_allclose([got[k] for k in keys], [expected[k] for k in keys], rtol=1e-9)
    assert any((-h, -k, -l) in got for (h, k, l) in got if (h, k, l) != (-h, -k, -l))


def test_mtz_render_equals_exported_hkl_render(mtz_case):
    d, name, _, cell, _, _ = mtz_case
    ours = simulate(["-mtz", str(d / name), *GEOMETRY], dtype="float64").numpy()
    cell_args = ["-cell", *(repr(float(x)) for x in cell)]
    ref = simulate(["-hkl", str(d / "P1.hkl"), *cell_args, *GEOMETRY], dtype="float64").numpy()
    corr, ratio, _ = parity(ours, ref)
    assert ours.max() > 0 and passes(corr, ratio, "float64"), (corr, ratio)
    dumped = simulate(["-dump", str(d / "Fdump.bin"), *cell_args, *GEOMETRY], dtype="float64").numpy()
    assert passes(*parity(dumped, ref)[:2], "float64")
    status, _, err, _ = run_cli(["-mtz", name, *GEOMETRY, "-dump", "cli.Fdump", "-floatfile", "f.bin",
                                 "-intfile", "i.img", "-nonoise", "-nopgm"], d)
    assert status == 0 and (d / "cli.Fdump").read_bytes() == (d / "Fdump.bin").read_bytes(), err


@pytest.mark.skipif(not os.environ.get("NANOBRAG_C_BIN"), reason="NANOBRAG_C_BIN not set (no nanoBragg.c)")
def test_mtz_render_equals_c_render(mtz_case, tmp_path):
    """nanoBragg.c rendering the exported list (bench/formats_c.py records this in a report)."""
    d, name, _, cell, _, _ = mtz_case
    ours = simulate(["-mtz", str(d / name), *GEOMETRY], dtype="float64").numpy()
    args = [os.environ["NANOBRAG_C_BIN"], "-hkl", str(d / "P1.hkl"), "-cell",
            *(repr(float(x)) for x in cell), *GEOMETRY, "-floatfile", "c.bin", "-nonoise", "-nopgm"]
    subprocess.run(args, cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    c = np.fromfile(tmp_path / "c.bin", dtype=np.float32).reshape(ours.shape)
    assert passes(*parity(ours, c)[:2], "float64")


def _direct_sum(hkl: np.ndarray) -> np.ndarray:
    """|F| of THREE_ATOMS by loops over the 12 atoms of the P 21 21 21 cell (hand-written
    operators with translations), gemmi's IT92 form factors, B and occupancy."""
    cell = np.array([10.0, 12.0, 14.0])
    atoms = [("C", (1.0, 2.0, 3.0), 1.0, 10.0), ("O", (2.0, 2.5, 3.5), 0.5, 20.0),
             ("N", (4.0, 1.0, 0.5), 1.0, 15.0)]
    ops = [lambda x, y, z: (x, y, z), lambda x, y, z: (-x + 0.5, -y, z + 0.5),
           lambda x, y, z: (-x, y + 0.5, -z + 0.5), lambda x, y, z: (x + 0.5, -y + 0.5, -z)]
    out = []
    for h in hkl.astype(float):
        stol2 = float(((h / cell) ** 2).sum()) / 4.0
        F = 0j
        for el, xyz, occ, B in atoms:
            c = gemmi.Element(el).it92
            f = sum(a * np.exp(-b * stol2) for a, b in zip(c.a, c.b)) + c.c
            for op in ops:
                frac = np.array(op(*(np.array(xyz) / cell)))
                F += occ * f * np.exp(-B * stol2) * np.exp(2j * np.pi * h @ frac)
        out.append(abs(F))
    return np.array(out)


def test_model_equals_direct_sum_over_atoms(tmp_path):
    (tmp_path / "three.pdb").write_text(THREE_ATOMS)
    assert _nb_hkl(["-model", "three.pdb", "-model_dmin", "2.5", "-hklout", "m.hkl"], tmp_path) == 0
    rows = np.loadtxt(tmp_path / "m.hkl")
    hkl, F = rows[:, :3], rows[:, 3]
    d = 1 / np.sqrt(((hkl[np.any(hkl != 0, axis=1)] / [10.0, 12.0, 14.0]) ** 2).sum(axis=1))
    assert (0, 0, 0) in {tuple(r) for r in hkl.astype(int).tolist()}     # F000 included
    assert d.min() >= 2.5 - 1e-9
    assert len(hkl) == sum(1 for h in np.ndindex(13, 13, 13)
                           if (((np.array(h) - 6) / [10.0, 12.0, 14.0]) ** 2).sum() <= 1 / 2.5 ** 2 * (1 + 1e-12))
    ref = _direct_sum(hkl)
    np.testing.assert_allclose(F, ref, rtol=TOL["formats"]["fcalc_rel"], atol=1e-9 * ref.max())


def test_model_auto_resolution_reaches_detector_corner(tmp_path):
    """Without -model_dmin the list reaches the d-spacing of the detector corner."""
    (tmp_path / "three.pdb").write_text(THREE_ATOMS)
    assert _nb_hkl(["-model", "three.pdb", *GEOMETRY, "-hklout", "m.hkl"], tmp_path) == 0
    hkl = np.loadtxt(tmp_path / "m.hkl")[:, :3]
    d = 1 / np.sqrt(((hkl[np.any(hkl != 0, axis=1)] / [10.0, 12.0, 14.0]) ** 2).sum(axis=1))
    corner = np.hypot(24 * 0.5, 24 * 0.5) + 0.5 * 0.5 * np.sqrt(2)     # mm, beam centre + half pixel
    d_corner = 1.0 / (2 * np.sin(np.arctan(corner / 60.0) / 2))
    assert d.min() < d_corner


def test_model_render_equals_exported_hkl_render(tmp_path):
    (tmp_path / "three.pdb").write_text(THREE_ATOMS)
    assert _nb_hkl(["-model", "three.pdb", *GEOMETRY, "-hklout", "m.hkl"], tmp_path) == 0
    ours = simulate(["-model", str(tmp_path / "three.pdb"), *GEOMETRY], dtype="float64").numpy()
    ref = simulate(["-hkl", str(tmp_path / "m.hkl"), "-cell", "10", "12", "14", "90", "90", "90",
                    *GEOMETRY], dtype="float64").numpy()
    assert ours.max() > 0 and passes(*parity(ours, ref)[:2], "float64")


def _bad_inputs(d: Path) -> dict:
    import gemmi as g

    m = g.Mtz(with_base=True)
    m.spacegroup = g.SpaceGroup("P 1")
    m.set_cell_for_all(g.UnitCell(10, 10, 10, 90, 90, 90))
    m.add_dataset("x")
    m.add_column("I", "J")
    m.set_data(np.array([[1, 0, 0, 5.0]], dtype=np.float32))
    m.write_to_file(str(d / "noamp.mtz"))
    make_mtz(d / "two.mtz", "P 21 21 21", (20, 24, 28, 90, 90, 90), columns=("FP", "FC"))
    (d / "empty.pdb").write_text(THREE_ATOMS.splitlines()[0] + "\nEND\n")
    (d / "bad.cif").write_text("this is not a CIF\n;;\n")
    return {"noamp": (["-mtz", "noamp.mtz"], "noamp.mtz: no amplitude (type F) column"),
            "unknown": (["-mtz", "two.mtz", "-mtz_column", "FOBS"],
                        "-mtz_column: two.mtz has no amplitude column 'FOBS' (amplitude columns: FP, FC)"),
            "ambiguous": (["-mtz", "two.mtz"], "two.mtz: several amplitude columns (FP, FC)"),
            "no_atoms": (["-model", "empty.pdb"], "empty.pdb: the model has no atoms"),
            "bad_cif": (["-model", "bad.cif"], "bad.cif: not a readable mmCIF/PDB model"),
            "missing": (["-mtz", "nothere.mtz"], "nothere.mtz: cannot read"),
            "two_sources": (["-mtz", "two.mtz", "-model", "empty.pdb"], "-mtz and -model: give one source")}


@pytest.mark.parametrize("case", ["noamp", "unknown", "ambiguous", "no_atoms", "bad_cif", "missing",
                                  "two_sources"])
def test_bad_files_one_line_error_no_output(case, tmp_path, capsys):
    args, message = _bad_inputs(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    outs = ["-floatfile", "f.bin", "-intfile", "i.img", "-cbffile", "i.cbf", "-nxsfile", "i.nxs",
            "-ponifile", "i.poni", "-dump", "d.bin"]
    status, out, err, _ = run_cli([*args, *GEOMETRY, *outs], tmp_path)
    assert status == 2 and err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert _nb_hkl([*args, "-hklout", "x.hkl"], tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
