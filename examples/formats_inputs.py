"""Tiny crystallographers' files for the formats tests and the README walk-through (no network).

    python examples/formats_inputs.py DIR

writes into DIR:
  p212121.mtz   P 21 21 21, cell 20 24 28, amplitudes FP (+ SIGFP), 20% of reflections missing
  p43212.mtz    P 43 21 2,  cell 30 30 40, same
  three.pdb     three atoms (C, O half-occupied, N) in P 21 21 21, cell 10 12 14
Reflections to 3 A, amplitudes uniform in [10, 1000) from a fixed seed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

MTZ_CASES = {"p212121.mtz": ("P 21 21 21", (20.0, 24.0, 28.0, 90.0, 90.0, 90.0)),
             "p43212.mtz": ("P 43 21 2", (30.0, 30.0, 40.0, 90.0, 90.0, 90.0))}

THREE_ATOMS = """\
CRYST1   10.000   12.000   14.000  90.00  90.00  90.00 P 21 21 21    4
ATOM      1  C   ALA A   1       1.000   2.000   3.000  1.00 10.00           C
ATOM      2  O   ALA A   1       2.000   2.500   3.500  0.50 20.00           O
ATOM      3  N   ALA A   1       4.000   1.000   0.500  1.00 15.00           N
END
"""


def make_mtz(path, sg_name: str, cell, dmin: float = 3.0, seed: int = 0, missing: float = 0.2,
             columns=("FP",)) -> tuple:
    """Write an MTZ of the unique reflections to `dmin` (systematic absences and a fraction
    `missing` left out) with amplitude columns `columns` and a SIGFP column.  Returns the
    written (hkl [n, 3] int, F [n, len(columns)] float32)."""
    import gemmi

    sg = gemmi.SpaceGroup(sg_name)
    uc = gemmi.UnitCell(*cell)
    ops = sg.operations()
    hkl = np.array([h for h in gemmi.make_miller_array(uc, sg, dmin, unique=True)
                    if not ops.is_systematically_absent(list(h))])
    rng = np.random.default_rng(seed)
    hkl = hkl[rng.random(len(hkl)) >= missing]
    F = rng.uniform(10, 1000, (len(hkl), len(columns))).astype(np.float32)
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup = sg
    mtz.set_cell_for_all(uc)
    mtz.add_dataset("sim")
    for label in columns:
        mtz.add_column(label, "F")
    mtz.add_column("SIGFP", "Q")
    mtz.set_data(np.column_stack([hkl, F, np.ones(len(hkl))]).astype(np.float32))
    mtz.write_to_file(str(path))
    return hkl, F


def write_all(directory) -> None:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, (sg, cell) in MTZ_CASES.items():
        make_mtz(d / name, sg, cell)
    (d / "three.pdb").write_text(THREE_ATOMS)


if __name__ == "__main__":
    write_all(sys.argv[1] if len(sys.argv) > 1 else ".")
