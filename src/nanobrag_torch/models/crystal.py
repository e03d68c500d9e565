"""Crystal model: unit cell, orientation, size, mosaic domains and spindle rotation.

Reproduces nanoBragg.c: the `-cell` reciprocal basis (with its skewed triclinic
construction in ``c`` quirks mode, the textbook one in ``fixed``), `-mat` A matrices,
`-misset` (angles or `random` drawn with the C generator), re-derivation of the direct
cell, N from crystal size, mosaic rotation matrices drawn with the C generator, and the
per-(phi, mosaic) rotated direct vectors.  Vectors are float64 tensors; direct vectors in
metres, reciprocal in 1/Angstrom (as the C keeps them).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..config import CrystalConfig
from ..constants import RTD
from ..errors import NanoBraggError
from ..physics.vectors import axis_rotation_matrix, cross, dot, norm, rotate_xyz, vec
from ..physics import mosaic as mosaic_rng


@dataclass
class Crystal:
    cfg: CrystalConfig
    a0_m: torch.Tensor             # (3, 3) rows a, b, c at phi = 0, no mosaic, metres
    recip_A: torch.Tensor          # (3, 3) rows a*, b*, c* in 1/Angstrom (unrotated)
    cell_A_deg: tuple              # a b c alpha beta gamma as used
    recip_cell: tuple              # a* b* c* (1/A) alpha* beta* gamma* (deg)
    volume_A3: float
    N: torch.Tensor                # (3,) cells along a, b, c (after size / clamp)
    warnings: list
    misset_random_deg: tuple | None


def _reciprocal_from_cell(cfg: CrystalConfig, quirks: str, warnings: list, params: dict):
    """The C's default orientation for -cell: a* along x, b* in the xy plane: (reciprocal
    rows [3, 3] 1/A, lengths [3] A, volume A^3).  Without a ``cell`` override it is built
    once per cell and quirks mode in a process (`_plain_reciprocal`; ~0.25 ms of each line
    of a -batch); its tensors are shared, never changed in place."""
    cell = params.get("cell")
    if cell is None:
        recip, lengths, V, notes = _plain_reciprocal(tuple(cfg.cell_A), tuple(cfg.cell_angles_rad), quirks)
    else:                                                       # radians (params.to_internal)
        recip, lengths, V, notes = _reciprocal(*cell[:6], quirks)
    warnings.extend(notes)
    return recip, lengths, V


@functools.lru_cache(maxsize=8)
def _plain_reciprocal(cell_A: tuple, angles_rad: tuple, quirks: str) -> tuple:
    a, b, c = [torch.tensor(float(x), dtype=torch.float64) for x in cell_A]
    if float(b) <= 0.0:
        b = a
    if float(c) <= 0.0:
        c = a
    al, be, ga = [torch.tensor(float(x) if x > 0 else math.pi / 2, dtype=torch.float64)
                  for x in angles_rad]
    return _reciprocal(a, b, c, al, be, ga, quirks)


def _reciprocal(a, b, c, al, be, ga, quirks: str) -> tuple:
    """`_reciprocal_from_cell` from lengths (A) and angles (radians), 0-d tensors, with the
    warnings it raises (a tuple: `_plain_reciprocal` keeps the result)."""
    warnings: list = []
    aavg = (al + be + ga) / 2
    skew = torch.abs(torch.sin(aavg) * torch.sin(aavg - al) * torch.sin(aavg - be) * torch.sin(aavg - ga))
    V = 2.0 * a * b * c * torch.sqrt(skew)
    if float(V.detach()) <= 0.0:
        raise NanoBraggError(f"-cell: impossible unit cell (volume {float(V.detach()):g} A^3)")
    Vs = 1.0 / V
    a_s, b_s, c_s = b * c * torch.sin(al) * Vs, c * a * torch.sin(be) * Vs, a * b * torch.sin(ga) * Vs
    sin_as = a * Vs / b_s / c_s
    sin_gs = c * Vs / a_s / b_s
    cos_as = (torch.cos(be) * torch.cos(ga) - torch.cos(al)) / (torch.sin(be) * torch.sin(ga))
    cos_bs = (torch.cos(ga) * torch.cos(al) - torch.cos(be)) / (torch.sin(ga) * torch.sin(al))
    cos_gs = (torch.cos(al) * torch.cos(be) - torch.cos(ga)) / (torch.sin(al) * torch.sin(be))
    if max(abs(float(sin_as.detach())), abs(float(sin_gs.detach()))) > 1.0000001:
        warnings.append("WARNING: oddball reciprocal cell angles")
    sin_gs = torch.clamp(sin_gs, -1.0, 1.0)
    zero = torch.zeros((), dtype=torch.float64)
    if quirks == "c":
        cz = c_s * V / (a * b * c * sin_gs)          # the C's construction (skews triclinic cells)
    else:
        cz = 1.0 / c                                 # textbook: c* . c = 1 with c along z
    a_star = torch.stack([a_s, zero, zero])
    b_star = torch.stack([b_s * cos_gs, b_s * sin_gs, zero])
    c_star = torch.stack([c_s * cos_bs, c_s * (cos_as - cos_bs * cos_gs) / sin_gs, cz])
    return torch.stack([a_star, b_star, c_star]), torch.stack([a, b, c]), V, tuple(warnings)


def build_crystal(cfg: CrystalConfig, lambda0_m: float, quirks: str, rng_state,
                  params: dict | None = None, mat=None) -> Crystal:
    """Direct and reciprocal cell at phi = 0 (after misset) and the crystal size in cells.
    `mat`: the -mat file's 3x3 reciprocal matrix (as `io.matrix.read_mat` returns it), if any."""
    p = params or {}
    warnings: list = []
    recip = None
    lengths = V_user = None
    if cfg.user_cell or "cell" in p:
        recip, lengths, V_user = _reciprocal_from_cell(cfg, quirks, warnings, p)
    if mat is not None:
        recip = torch.tensor(np.asarray(mat), dtype=torch.float64) * (1e-10 / lambda0_m)
    misset_random = None
    misset = list(cfg.misset_rad)
    if cfg.misset_mode == "random":
        misset = mosaic_rng.random_misset(rng_state, cfg.misset_seed)
        misset_random = tuple(m * RTD for m in misset)
    if "misset" in p:
        misset = [p["misset"][i] for i in range(3)]           # radians (params.to_internal)
    if cfg.misset_mode != "none" or "misset" in p:
        recip = rotate_xyz(recip, *misset)
    a_s, b_s, c_s = recip[0], recip[1], recip[2]
    bxc, cxa, axb = cross(b_s, c_s), cross(c_s, a_s), cross(a_s, b_s)
    V_star = dot(a_s, bxc)
    if V_user is not None:
        bxc = bxc * (lengths[0] / V_user / norm(bxc))
        cxa = cxa * (lengths[1] / V_user / norm(cxa))
        axb = axb * (lengths[2] / V_user / norm(axb))
        V_star = 1.0 / V_user
    V_cell = 1.0 / V_star
    direct = torch.stack([bxc, cxa, axb]) * V_cell            # Angstrom
    a, b, c = direct[0], direct[1], direct[2]
    recip = torch.stack([cross(b, c), cross(c, a), cross(a, b)]) * V_star
    cell, rcell = _cell_parameters(direct.detach(), recip.detach(), float(V_cell.detach()))
    direct_m = direct * 1e-10
    N = _crystal_size(cfg, direct_m, p)
    return Crystal(cfg=cfg, a0_m=direct_m, recip_A=recip, cell_A_deg=cell, recip_cell=rcell,
                   volume_A3=float(V_cell.detach()), N=N, warnings=warnings, misset_random_deg=misset_random)


def _dot3(u, v) -> float:
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def _angles(x: list, lengths: list, other: list, volume: float) -> tuple:
    """alpha, beta, gamma (degrees) between the rows of `x` (3 lists of 3 floats) as the C
    prints them: sin = |other row i| x volume / (|x_j| |x_k|) with the other space's lengths
    and this space's cell volume (not |x_j x x_k|: in the C's skewed triclinic construction
    the two differ), cos = x_j . x_k / (|x_j| |x_k|); sin clamped to [-1, 1], cos to 1 when
    its square exceeds 1 (nanoBragg.c after "for fun, calculate the cell angles too")."""
    out = []
    for i, (j, k) in enumerate(((1, 2), (0, 2), (0, 1))):
        s = min(max(other[i] * volume / lengths[j] / lengths[k], -1.0), 1.0)
        c = _dot3(x[j], x[k]) / lengths[j] / lengths[k]
        c = 1.0 if c * c > 1.0 else c
        out.append(math.atan2(s, c) * RTD)
    return tuple(out)


def _cell_parameters(direct: torch.Tensor, recip: torch.Tensor, V_cell: float) -> tuple:
    """Printed cell (a, b, c, alpha, beta, gamma) and reciprocal cell, as plain floats, with
    the C's formulas (`_angles`; `V_cell` in A^3, the reciprocal volume its inverse), computed
    in Python floats: 0-d tensor operations cost ~0.65 ms of each render here, these ~0.02
    ms, and `math.sqrt` is correctly rounded, as the C's ``sqrt``."""
    d, r = direct.tolist(), recip.tolist()
    la = [math.sqrt(_dot3(v, v)) for v in d]
    lr = [math.sqrt(_dot3(v, v)) for v in r]
    return tuple(la) + _angles(d, la, lr, V_cell), tuple(lr) + _angles(r, lr, la, 1.0 / V_cell)


def _crystal_size(cfg: CrystalConfig, direct_m: torch.Tensor, p: dict) -> torch.Tensor:
    N = []
    for i, key in enumerate(("Na", "Nb", "Nc")):
        n = float(cfg.N[i])
        if cfg.sample_size_m[i] > 0:
            n = float(math.ceil(cfg.sample_size_m[i] / float(norm(direct_m[i].detach()))))
        n = max(n, 1.0)
        N.append(p[key] if key in p else torch.tensor(n, dtype=torch.float64))
    return torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in N])


def orientations(crystal: Crystal, quirks: str, rng_state, params: dict | None = None) -> dict:
    """Rotated direct vectors for every (phi step, mosaic domain), metres.

    Returns ``{"A": [phisteps*domains, 3, 3] (rows a, b, c), "A_first": same for the first
    visit (differs only with the C's phi = 0 carry-over), "umats": [domains, 3, 3]}``.
    In ``c`` mode a phi step whose angle is exactly 0 reuses the orientation of the
    previously executed phi step (the C skips the rotation and keeps stale vectors).
    """
    cfg = crystal.cfg
    p = params or {}
    phi0 = p.get("phi", cfg.phi0_rad)
    phistep = p.get("osc", None)
    phistep = cfg.phistep_rad if phistep is None else phistep / cfg.phisteps
    steps = torch.arange(cfg.phisteps, dtype=torch.float64)
    phis = torch.as_tensor(phi0, dtype=torch.float64) + torch.as_tensor(phistep, dtype=torch.float64) * steps
    spindle = vec(cfg.spindle)
    spindle = spindle / norm(spindle) if float(norm(spindle)) > 0 else spindle
    R = _phi_rotations(spindle, phis)                           # [phi, 3, 3]
    first = R
    zero = [float(x) == 0.0 for x in phis.detach()]
    if quirks == "c" and any(zero) and not all(zero):
        eye = torch.eye(3, dtype=torch.float64)
        idx_eff, idx_first = _carry_over(zero)
        first = torch.stack([R[j] if j >= 0 else eye for j in idx_first])
        R = torch.stack([R[j] if j >= 0 else eye for j in idx_eff])
    spread = p.get("mosaic", cfg.mosaic_spread_rad)
    umats = mosaic_rng.mosaic_umats(rng_state, spread, cfg.mosaic_domains, cfg.mosaic_seed)
    a0 = crystal.a0_m                                           # rows a, b, c
    # a_rotated = U . R_phi . a0  ->  rows: a0 @ R^T @ U^T
    A = torch.einsum("mij,pjk,nk->pmni", umats, R, a0).reshape(-1, 3, 3)
    A_first = torch.einsum("mij,pjk,nk->pmni", umats, first, a0).reshape(-1, 3, 3)
    return {"A": A, "A_first": A_first, "umats": umats, "phis": phis}


def _phi_rotations(spindle: torch.Tensor, phis: torch.Tensor) -> torch.Tensor:
    """`axis_rotation_matrix(spindle, phis)` [phi, 3, 3]; without gradients built once per
    (axis, angles) (~0.3 ms of small tensor operations: the lines of a -batch, the shots of
    a run, share them; callers do not modify the result in place)."""
    if spindle.requires_grad or phis.requires_grad:
        return axis_rotation_matrix(spindle, phis)
    return _phi_rotations_of(tuple(spindle.tolist()), tuple(phis.tolist()))


@functools.lru_cache(maxsize=8)
def _phi_rotations_of(spindle: tuple, phis: tuple) -> torch.Tensor:
    return axis_rotation_matrix(torch.tensor(spindle, dtype=torch.float64),
                                torch.tensor(phis, dtype=torch.float64))


def _carry_over(zero: list) -> tuple:
    """Index of the phi step whose rotation each step really uses (-1: unrotated).

    Steady state: a zero-angle step uses the nearest earlier non-zero step, wrapping
    around to the previous phi sweep.  First visit: no wrap (unrotated vectors)."""
    n = len(zero)
    eff, first = [], []
    for i in range(n):
        if not zero[i]:
            eff.append(i)
            first.append(i)
            continue
        j = i - 1
        while j >= 0 and zero[j]:
            j -= 1
        first.append(j)
        if j < 0:
            j = n - 1
            while zero[j]:
                j -= 1
        eff.append(j)
    return eff, first
