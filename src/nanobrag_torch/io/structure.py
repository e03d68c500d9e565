"""Atomic models (mmCIF or PDB) read with gemmi: the atoms of the unit cell for |F| sums.

`read_model(path)` returns the atoms of the first model with their symmetry mates (every
operator of the space group applied, as a structure-factor program does; atoms on special
positions carry the reduced occupancy the file gives them), isotropic B factors,
occupancies and the International Tables (vol. C, 4.3.2) four-Gaussian form-factor
coefficients gemmi ships (`gemmi.Element.it92`).  gemmi is imported only when a model is read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.optional import require


@dataclass(frozen=True)
class ModelFile:
    """Structure factors given as ``-model path``, to resolution ``dmin_A`` (A; 0: what the
    detector's corners need, see `precompute.table_dmin`)."""

    path: str
    dmin_A: float = 0.0


@dataclass(frozen=True)
class AtomModel:
    """The atoms of one unit cell, `m` of them.

    ``frac [m, 3]`` fractional coordinates, ``occupancy [m]``, ``b_iso [m]`` (A^2),
    ``coef_a, coef_b [m, 4]`` and ``coef_c [m]`` (form factor f(s) = sum a exp(-b s^2) + c,
    s = sin(theta)/lambda in 1/A), ``cell`` (a, b, c, alpha, beta, gamma; A, deg),
    ``rotations [k, 3, 3]`` integer rotation parts of the space group's operators."""

    frac: np.ndarray
    occupancy: np.ndarray
    b_iso: np.ndarray
    coef_a: np.ndarray
    coef_b: np.ndarray
    coef_c: np.ndarray
    cell: tuple
    rotations: np.ndarray
    source: str


def _open(path: str):
    gemmi = require("gemmi", "-model")

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise NanoBraggError(f"{name}: cannot read: no such file")
    try:
        st = gemmi.read_structure(name)
    except (RuntimeError, ValueError, OSError) as exc:
        raise NanoBraggError(f"{name}: not a readable mmCIF/PDB model "
                             f"({str(exc).splitlines()[0]})") from None
    if len(st) == 0 or not any(True for _ in st[0].all()):
        raise NanoBraggError(f"{name}: the model has no atoms")
    if not st.cell.is_crystal():
        raise NanoBraggError(f"{name}: the model has no unit cell (CRYST1 / _cell)")
    return st


def model_cell(path: str) -> tuple:
    """The unit cell of the model (a, b, c, alpha, beta, gamma), A and degrees."""
    c = _open(path).cell
    return (c.a, c.b, c.c, c.alpha, c.beta, c.gamma)


def read_model(path: str) -> AtomModel:
    """Atoms of the first model of `path` and their symmetry mates in the cell.

    Raises:
        NanoBraggError: unreadable file, no atoms, no unit cell, or an element without
            form-factor coefficients."""
    gemmi = require("gemmi", "-model")
    name = os.fspath(path)
    st = _open(name)
    sg = st.find_spacegroup() or gemmi.SpaceGroup("P 1")
    ops = list(sg.operations())
    frac, occ, b, elements = [], [], [], []
    for cra in st[0].all():
        f = st.cell.fractionalize(cra.atom.pos)
        frac.append((f.x, f.y, f.z))
        occ.append(cra.atom.occ)
        b.append(cra.atom.b_iso)
        elements.append(cra.atom.element)
    coefs = []
    for el in elements:
        if el.it92 is None or not any(el.it92.a) and not el.it92.c:
            raise NanoBraggError(f"{name}: no form factor for element '{el.name}'")
        coefs.append((el.it92.a, el.it92.b, el.it92.c))
    R = np.array([op.rot for op in ops], dtype=np.int64) // gemmi.Op.DEN
    t = np.array([op.tran for op in ops], dtype=np.float64) / gemmi.Op.DEN
    x = np.asarray(frac, dtype=np.float64)
    cell_atoms = (np.einsum("kij,mj->kmi", R, x) + t[:, None, :]).reshape(-1, 3)
    k = len(ops)
    c = st.cell
    return AtomModel(frac=cell_atoms, occupancy=np.tile(np.asarray(occ, float), k),
                     b_iso=np.tile(np.asarray(b, float), k),
                     coef_a=np.tile(np.array([a for a, _, _ in coefs], float), (k, 1)),
                     coef_b=np.tile(np.array([bb for _, bb, _ in coefs], float), (k, 1)),
                     coef_c=np.tile(np.array([cc for _, _, cc in coefs], float), k),
                     cell=(c.a, c.b, c.c, c.alpha, c.beta, c.gamma), rotations=R,
                     source=f"{name}: {len(x)} atoms, {sg.hm}, {len(cell_atoms)} in the cell")
