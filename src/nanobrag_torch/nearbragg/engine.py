"""nearBragg's eager torch engine: the complex amplitude of a block of pixels summed over
atoms, with exact (near-field) source -> atom -> pixel path lengths.

Phase (see specs/nearbragg.md): the absolute phase 2 pi (s2a + a2p)/lambda reaches ~6e11 rad,
so it is split.  Per (wavelength, source point) and atom, in float64:
``phi_a = [k (s2a - |s|) + phase_a] mod 2 pi`` (k = 2 pi/lambda with the C's constant) and
the amplitude weight; per pixel position p, in float64: ``phi_ref = k (|s| + |p|) mod 2 pi``.
Per (pixel, atom), in the working dtype, only small numbers:
``q = |a|^2 - 2 p.a``, ``a2p = sqrt(|p|^2 + q)``, ``delta = a2p - |p| = q/(a2p + |p|)``,
``F = sum_a w_a exp(i (phi_a + k delta))/a2p``; then ``F *= exp(i phi_ref)`` in float64.
No difference of large numbers is ever formed, so float32 keeps ~1e-4 rad per atom.

``exact_c=True`` (float64 with ``-quirks c``) instead evaluates the C's own sequence
``phase = 6.28318530717959*(s2a + a2p)/lambda + phase_a``, ``w cos(phase)/s2a/a2p``, added
atom by atom to the caller's running sums (`amplitude(start=...)`), which reproduces the C's
rounding of the absolute phase (its images depend on it at 1e-5) and of its ``Fa +=``.

Shapes: pixel positions [n, 3] (m, float64); atoms [M]; outputs [n] float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

TWOPI_C = 6.28318530717959       # nearBragg.c line 23
ATOM_CHUNK = 2048                # atoms per block
_TAU = Fraction("6.28318530717958647692528676655900576839433879875021164194988918")
BLOCK_TERMS = 1 << 17            # pixel x atom terms per eager block (cache sized)
# k max|a| (rad) beyond which a float32 k delta rounds by more than ~3e-4 rad a term
# (2^-24 x 5e3; the public cases reach 1.5e3): such renders compute in float64
F32_PHASE_LIMIT = 5.0e3


@dataclass
class AtomArrays:
    """Atoms as float64 tensors (any may require grad): xyz [M, 3] (m), occupancy [M],
    B [M] (A^2), phase [M] (rad)."""
    xyz: torch.Tensor
    occ: torch.Tensor
    B: torch.Tensor
    phase: torch.Tensor

    @property
    def count(self) -> int:
        return int(self.xyz.shape[0])


@dataclass
class SourceTerms:
    """Per-atom terms of one (wavelength, source point), working dtype unless noted.

    a [M, 3], aa [M] = |a|^2, w [M] amplitude weight (occupancy x source factor),
    phi [M] in [0, 2 pi), k (rad/m), ref (float64 |s|, 0 far), B [M] or None,
    S0 [M, 3] (incident unit vectors), inv_lam_A (1/A), exact-mode extras s2a [M]
    (float64 path from the source), s2a_amp [M] (float64 amplitude divisor), occ64,
    phase64 [M] (float64), lam (m)."""
    a: torch.Tensor
    aa: torch.Tensor
    w: torch.Tensor
    phi: torch.Tensor
    k: float
    ref: float
    B: torch.Tensor | None
    S0: torch.Tensor | None
    inv_lam_A: float
    a64: torch.Tensor
    s2a: torch.Tensor
    s2a_amp: torch.Tensor
    occ64: torch.Tensor
    phase64: torch.Tensor
    lam: float
    ref_phase: float = 0.0


def exact_phase(length: float, lam: float) -> float:
    """(6.28318530717959 length/lam) mod 2 pi, exactly (rational arithmetic): a float64
    product would be off by ~1e-4 rad at 10 m and 1 A."""
    x = Fraction(TWOPI_C) * Fraction(length) / Fraction(lam)
    return float(x - math.floor(x / _TAU) * _TAU)


def float32_keeps_phase(xyz: torch.Tensor, lambdas_m) -> bool:
    """Whether a float32 render keeps each term's phase k delta to ~3e-4 rad: k max|a| <=
    `F32_PHASE_LIMIT` for atom positions ``xyz`` [M, 3] (m) and the shortest wavelength (m).
    Beyond it (e.g. 4000 A objects at 0.3 A: 4e4 rad) float32 image sums drifted by up to
    2.6e-4 from the C's on nearly cancelling images."""
    if not xyz.shape[0]:
        return True
    reach = float(xyz.detach().norm(dim=1).max())
    return TWOPI_C / min(lambdas_m) * reach <= F32_PHASE_LIMIT


def source_terms(atoms: AtomArrays, lam: float, src, dtype, fixed_scale: bool) -> SourceTerms:
    """Per-atom quantities for wavelength `lam` (m) and source point `src` (None: far).
    `fixed_scale` (``-quirks fixed``): amplitude |s|/s2a (unit incident amplitude at the
    origin) instead of the C's 1/s2a, and s2a - |s| without the C's rounding of s2a."""
    a = atoms.xyz
    k = TWOPI_C / lam
    aa = (a * a).sum(-1)
    if src is None:
        s2a = a[:, 0]                      # the path from a plane wave front through x = 0
        ref, ds = 0.0, a[:, 0]
        amp_div = torch.ones_like(s2a)
        S0 = torch.zeros_like(a) + a.new_tensor([1.0, 0.0, 0.0])
    else:
        s = a.new_tensor(src)
        d = s - a
        s2a = (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2]
        s2a = torch.sqrt(s2a) if s2a.requires_grad or s2a.device.type != "cpu" else _np(np.sqrt, s2a)
        ref = math.sqrt(src[0] ** 2 + src[1] ** 2 + src[2] ** 2)
        if fixed_scale:
            ds = (aa - 2.0 * (a @ s)) / (s2a + ref)      # |s - a| - ref, no cancellation
        else:
            ds = s2a - ref      # exact (Sterbenz); keeps the C's rounding of s2a per atom
        amp_div = s2a / ref if fixed_scale else s2a
        S0 = -d / s2a[:, None]
    phi = torch.remainder(k * ds + atoms.phase, 2 * math.pi)
    has_B = bool((atoms.B != 0).any())
    return SourceTerms(a.to(dtype), aa.to(dtype), (atoms.occ / amp_div).to(dtype), phi.to(dtype),
                       k, ref, atoms.B.to(dtype) if has_B else None,
                       S0.to(dtype) if has_B else None, 1.0 / (lam * 1e10), a, s2a, amp_div,
                       atoms.occ, atoms.phase, lam, exact_phase(ref, lam))


def relative_terms(p, pp, pn, a, aa, w, phi, k, B, S0, inv_lam_A):
    """The per-(pixel, atom) work in the working dtype, summed over atoms: p [n, 3], pp = |p|^2
    and pn = |p| [n]; a [m, 3], aa = |a|^2, w, phi [m]; k (rad/m); B [m] and S0 [m, 3] or
    None (no B factor); inv_lam_A (1/A).  Returns (re, im) [n] without exp(i phi_ref)."""
    q = torch.addmm(aa[None, :], p, a.T, beta=1.0, alpha=-2.0)      # |a|^2 - 2 p.a
    a2p = torch.sqrt(pp[:, None] + q)
    phase = phi[None, :] + q / (a2p + pn[:, None]) * k
    amp = w[None, :] / a2p
    if B is not None:                       # exp(-B stol^2), stol = |S - S0|/(2 lambda_A)
        S = (p[:, None, :] - a[None, :, :]) / a2p[..., None] - S0[None, :, :]
        amp = amp * torch.exp(-B[None, :] * ((S * S).sum(-1) * (inv_lam_A * inv_lam_A * 0.25)))
    return (amp * torch.cos(phase)).sum(-1), (amp * torch.sin(phase)).sum(-1)


def _relative_block(p, pp, pn, t: SourceTerms, sl: slice, block=None):
    B = t.B[sl] if t.B is not None else None
    S0 = t.S0[sl] if t.S0 is not None else None
    return (block or relative_terms)(p, pp, pn, t.a[sl], t.aa[sl], t.w[sl], t.phi[sl], t.k, B,
                                     S0, t.inv_lam_A)


def _np(fn, x: torch.Tensor) -> torch.Tensor:
    """A numpy (glibc-accurate, correctly rounded sqrt) function of a CPU float64 tensor:
    torch's vectorised sqrt, sin and cos are 1 ulp off in ~0.5 % of cases, which at a phase
    of 6e11 rad is 1e-4 rad."""
    return torch.from_numpy(fn(x.numpy()))


def _exact_block(p64, t: SourceTerms, sl: slice, re0: torch.Tensor, im0: torch.Tensor):
    """The C's sequence (1073-1111), float64 on the CPU, no autograd: the running sums
    re0 + term_0 + term_1 + ... in atom order (a sequential cumulative sum, as the C's
    ``Fa +=``; a pairwise sum rounds differently)."""
    a = t.a64[sl]
    d = p64[:, None, :] - a[None, :, :]
    a2p = _np(np.sqrt, (d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]) + d[..., 2] * d[..., 2])
    phase = TWOPI_C * (t.s2a[None, sl] + a2p) / t.lam + t.phase64[None, sl]
    w = t.occ64[None, sl]
    if t.B is not None:
        S = d / a2p[..., None]
        sv = (S - t.S0[None, sl, :]) / (t.lam * 1e10)
        stol = _np(np.sqrt, (sv[..., 0] * sv[..., 0] + sv[..., 1] * sv[..., 1]) + sv[..., 2] * sv[..., 2]) / 2.0
        w = w * _np(np.exp, -t.B[None, sl] * stol * stol)
    div = t.s2a_amp[None, sl]
    out = []
    for start, fn in ((re0, np.cos), (im0, np.sin)):
        terms = ((w * _np(fn, phase)) / div / a2p).numpy()
        run = np.cumsum(np.concatenate([start.numpy()[:, None], terms], axis=1), axis=1)
        out.append(torch.from_numpy(np.ascontiguousarray(run[:, -1])))
    return tuple(out)


def amplitude(p64: torch.Tensor, t: SourceTerms, dtype, exact_c: bool = False,
              block=None, start: tuple | None = None) -> tuple:
    """Complex amplitude sum over atoms at positions p64 [n, 3] (float64 m): (re, im) [n]
    float64, including the reference phase exp(i k (|s| + |p|)).  `block`: a compiled
    `relative_terms` (all atoms in one call).  `start` (``exact_c`` only): the running sums
    (re, im) the atoms are added to one by one, as the C's ``Fa``/``Fb``."""
    n, M = p64.shape[0], t.a.shape[0]
    re = p64.new_zeros(n)
    im = p64.new_zeros(n)
    if exact_c and start is not None:
        re, im = start
    if M == 0:
        return re, im
    if exact_c:
        for first in range(0, M, ATOM_CHUNK):
            re, im = _exact_block(p64, t, slice(first, min(first + ATOM_CHUNK, M)), re, im)
        return re, im
    pn64 = torch.sqrt((p64 * p64).sum(-1))
    p, pn = p64.to(dtype), pn64.to(dtype)
    pp = pn * pn
    step = M if block is not None else ATOM_CHUNK
    for start in range(0, M, step):
        sl = slice(start, min(start + step, M))
        fa, fb = _relative_block(p, pp, pn, t, sl, block)
        re = re + fa.to(torch.float64)
        im = im + fb.to(torch.float64)
    return with_reference(re, im, t, pn64)


def with_reference(re: torch.Tensor, im: torch.Tensor, t: SourceTerms, pn64: torch.Tensor) -> tuple:
    """(re + i im) exp(i phi_ref), phi_ref = k (|s| + |p|) mod 2 pi, in float64 [n]."""
    ref = torch.remainder(t.k * pn64 + t.ref_phase, 2 * math.pi)
    c, s = torch.cos(ref), torch.sin(ref)
    return re * c - im * s, re * s + im * c


def pixel_chunk(n_atoms: int, terms: int = BLOCK_TERMS, atom_chunk: int = ATOM_CHUNK) -> int:
    """Pixels per block so that a block holds about `terms` pixel-atom terms."""
    return max(64, terms // max(1, min(n_atoms, atom_chunk)))
