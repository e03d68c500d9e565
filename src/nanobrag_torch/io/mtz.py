"""MTZ reflection files (CCP4) read with gemmi, expanded to nanoBragg's P1 list.

`read_mtz(path, column)` returns the reflections of one amplitude column (those whose value
is missing, NaN, left out), the file's unit cell and the rotation parts of its space-group
operators; `physics.reflections.expand_p1` expands them over the full sphere with Friedel
mates (what upstream's ``mtz_to_P1hkl.com`` does with CCP4's cad and mtzdump).  gemmi is
imported only here, when an MTZ is read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.optional import require


@dataclass(frozen=True)
class MtzColumn:
    """One amplitude column as stored: ``hkl [n, 3]`` int64, ``F [n]`` float64, ``cell``
    (a, b, c, alpha, beta, gamma; A, deg), ``rotations [k, 3, 3]`` integer rotation parts of
    the space group's operators, and a one-line ``source``."""

    hkl: np.ndarray
    F: np.ndarray
    cell: tuple
    rotations: np.ndarray
    source: str


@dataclass(frozen=True)
class MtzFile:
    """Structure factors given as ``-mtz path`` (``-mtz_column column``; None: the only one)."""

    path: str
    column: str | None = None


def _open(path: str):
    gemmi = require("gemmi", "-mtz")

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise NanoBraggError(f"{name}: cannot read: no such file")
    try:
        return gemmi.read_mtz_file(name)
    except (RuntimeError, ValueError, OSError) as exc:
        raise NanoBraggError(f"{name}: not a readable MTZ file ({str(exc).splitlines()[0]})") from None


def amplitude_columns(mtz) -> list:
    """Labels of the amplitude (type F) columns of an open gemmi Mtz."""
    return [c.label for c in mtz.columns if c.type == "F"]


def _choose(name: str, mtz, column: str | None):
    labels = amplitude_columns(mtz)
    listed = ", ".join(labels) if labels else "none"
    if column is None:
        if not labels:
            kinds = ", ".join(f"{c.label}({c.type})" for c in mtz.columns)
            raise NanoBraggError(f"{name}: no amplitude (type F) column; columns are {kinds}")
        if len(labels) > 1:
            raise NanoBraggError(f"{name}: several amplitude columns ({listed}): choose one "
                                 "with -mtz_column")
        column = labels[0]
    if column not in labels:
        raise NanoBraggError(f"-mtz_column: {name} has no amplitude column '{column}' "
                             f"(amplitude columns: {listed})")
    return column


def mtz_cell(path: str) -> tuple:
    """The unit cell of the MTZ file (a, b, c, alpha, beta, gamma), A and degrees."""
    c = _open(path).cell
    return (c.a, c.b, c.c, c.alpha, c.beta, c.gamma)


def read_mtz(path: str, column: str | None = None) -> MtzColumn:
    """The reflections of amplitude column `column` (default: the only type-F column).

    Raises:
        NanoBraggError: unreadable file, no amplitude column, several and none chosen, an
            unknown column, or no reflection with a value."""
    name = os.fspath(path)
    mtz = _open(name)
    label = _choose(name, mtz, column)
    data = np.asarray(mtz.array, dtype=np.float64)
    hkl = data[:, :3].astype(np.int64)
    F = data[:, mtz.column_labels().index(label)]
    have = np.isfinite(F)
    if not have.any():
        raise NanoBraggError(f"{name}: column {label} holds no values")
    rotations = np.array([op.rot for op in mtz.spacegroup.operations()]) // require("gemmi", "-mtz").Op.DEN
    c = mtz.cell
    return MtzColumn(hkl[have], F[have], (c.a, c.b, c.c, c.alpha, c.beta, c.gamma), rotations,
                     f"{name} column {label}, {mtz.spacegroup.hm}, {int(have.sum())} reflections")
