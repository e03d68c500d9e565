"""Reflection lists: P1 expansion by space-group operators, resolution limits and |F| summed
over atoms.  Plain numpy (float64); no file access (the readers are `io/mtz.py` and
`io/structure.py`).

Conventions: Miller indices are integer rows ``hkl [n, 3]``; a space-group operator acts on
fractional coordinates as ``x' = R x + t`` (``R [3, 3]`` integer, ``t [3]`` fractions), so a
Miller index maps to ``h' = h R`` with ``|F(h')| = |F(h)|``; Friedel mates ``-h`` have the same
|F| (no anomalous scattering).  Cells are ``(a, b, c, alpha, beta, gamma)`` in Angstrom and
degrees.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class P1Reflections:
    """A P1 reflection list: ``hkl [n, 3]`` int64, ``F [n]`` float64 (|F|, electrons),
    ``cell`` (a, b, c, alpha, beta, gamma) in A and degrees, and a one-line ``source``."""

    hkl: np.ndarray
    F: np.ndarray
    cell: tuple
    source: str


def expand_p1(hkl: np.ndarray, F: np.ndarray, rotations: np.ndarray) -> tuple:
    """Every symmetry mate and Friedel mate of the reflections `hkl` [n, 3] with amplitudes
    `F` [n], under the operators' rotation parts `rotations` [m, 3, 3].

    Returns (hkl [k, 3] int64, F [k] float64), unique indices sorted by (h, k, l); where
    the input lists two reflections of one orbit the first one listed wins."""
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    R = np.asarray(rotations, dtype=np.int64).reshape(-1, 3, 3)
    mates = np.einsum("ni,mij->mnj", hkl, R)                      # [m, n, 3]
    mates = np.concatenate([mates, -mates]).reshape(-1, 3)        # Friedel mates
    values = np.tile(np.asarray(F, dtype=np.float64), 2 * len(R))
    order = np.tile(np.arange(len(hkl)), 2 * len(R))              # input position of each mate
    first = np.lexsort((order,) + tuple(mates[:, ::-1].T))        # by (h, k, l), then input order
    mates, values = mates[first], values[first]
    keep = np.ones(len(mates), dtype=bool)
    keep[1:] = np.any(mates[1:] != mates[:-1], axis=1)
    return mates[keep], values[keep]


def reciprocal_metric(cell) -> np.ndarray:
    """The reciprocal metric tensor G* [3, 3] (1/A^2) of `cell`: 1/d^2 = h G* h^T."""
    a, b, c = cell[:3]
    al, be, ga = np.radians(cell[3:6])
    G = np.array([[a * a, a * b * np.cos(ga), a * c * np.cos(be)],
                  [a * b * np.cos(ga), b * b, b * c * np.cos(al)],
                  [a * c * np.cos(be), b * c * np.cos(al), c * c]])
    return np.linalg.inv(G)


def inverse_d_squared(hkl: np.ndarray, cell) -> np.ndarray:
    """1/d^2 (1/A^2) of every row of `hkl` [n, 3]: [n]."""
    h = np.asarray(hkl, dtype=np.float64)
    return np.einsum("ni,ij,nj->n", h, reciprocal_metric(cell), h)


def indices_to_resolution(cell, dmin_A: float) -> np.ndarray:
    """Every Miller index with d >= `dmin_A` (Angstrom), (0, 0, 0) included: [n, 3] int64."""
    Gs = reciprocal_metric(cell)
    G = np.linalg.inv(Gs)
    # |h_i| <= sqrt(G_ii) / dmin bounds the sphere 1/d <= 1/dmin
    hmax = np.floor(np.sqrt(np.diag(G)) / dmin_A).astype(np.int64)
    axes = [np.arange(-m, m + 1) for m in hmax]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid[inverse_d_squared(grid, cell) <= 1.0 / dmin_A ** 2 * (1 + 1e-12)]


def orbit_representatives(hkl: np.ndarray, rotations: np.ndarray) -> tuple:
    """One representative per symmetry orbit (operators and Friedel) of `hkl` [n, 3].

    Returns (unique [u, 3] int64, inverse [n]) with ``unique[inverse] `` the representative
    of every input row (the lexicographically largest mate)."""
    R = np.asarray(rotations, dtype=np.int64).reshape(-1, 3, 3)
    mates = np.einsum("ni,mij->nmj", np.asarray(hkl, dtype=np.int64), R)
    mates = np.concatenate([mates, -mates], axis=1)               # [n, 2m, 3]
    key = (mates[..., 0] * 1_000_003 + mates[..., 1]) * 1_000_003 + mates[..., 2]
    rep = mates[np.arange(len(mates)), np.argmax(key, axis=1)]
    return np.unique(rep, axis=0, return_inverse=True)


def amplitudes_from_atoms(hkl: np.ndarray, cell, frac: np.ndarray, occupancy: np.ndarray,
                          b_iso: np.ndarray, coef_a: np.ndarray, coef_b: np.ndarray,
                          coef_c: np.ndarray, cells_per_chunk: int = 1 << 21) -> np.ndarray:
    """|F(h)| (electrons) summed over the atoms of the whole unit cell.

    F(h) = sum_j occ_j f_j(s) exp(-B_j s^2) exp(2 pi i h . x_j), s = sin(theta)/lambda =
    1/(2d), with the four-Gaussian form factor f(s) = sum_k a_k exp(-b_k s^2) + c.

    Args:
        hkl: [n, 3] Miller indices; cell: (a, b, c, alpha, beta, gamma) (A, deg).
        frac: [m, 3] fractional coordinates of every atom of the cell; occupancy [m];
            b_iso [m] (A^2); coef_a, coef_b [m, 4] (b in A^2) and coef_c [m]: form factors.
        cells_per_chunk: reflections x atoms evaluated at once (bounds the memory).
    Returns:
        [n] float64 amplitudes.
    """
    hkl = np.asarray(hkl, dtype=np.float64)
    chunk = max(1, cells_per_chunk // max(1, len(frac)))
    coefs, kind = np.unique(np.column_stack([coef_a, coef_b, coef_c]), axis=0, return_inverse=True)
    kind = kind.reshape(-1)                                               # form factor of each atom
    stol2 = inverse_d_squared(hkl, cell) / 4.0
    out = np.empty(len(hkl))
    for lo in range(0, len(hkl), chunk):
        s2 = stol2[lo:lo + chunk, None]                                   # [c, 1]
        f = (coefs[None, :, :4] * np.exp(-coefs[None, :, 4:8] * s2[..., None])).sum(-1) + coefs[:, 8]
        weight = occupancy * f[:, kind] * np.exp(-b_iso * s2)             # [c, m]
        phase = 2.0 * np.pi * hkl[lo:lo + chunk] @ frac.T                 # [c, m]
        out[lo:lo + chunk] = np.abs((weight * np.exp(1j * phase)).sum(axis=1))
    return out


def p1_from_atoms(model, dmin_A: float) -> P1Reflections:
    """|F| of every reflection with d >= `dmin_A` (A), F000 included, from an `AtomModel`
    (`io/structure.py`): computed once per symmetry orbit, then copied to its mates."""
    hkl = indices_to_resolution(model.cell, dmin_A)
    unique, inverse = orbit_representatives(hkl, model.rotations)
    F = amplitudes_from_atoms(unique, model.cell, model.frac, model.occupancy, model.b_iso,
                              model.coef_a, model.coef_b, model.coef_c)
    return P1Reflections(hkl, F[inverse.reshape(-1)], model.cell,
                         f"{model.source}, {len(hkl)} reflections to {dmin_A:.4g} A")
