"""nearBragg's amplitude kernel: a tile of BLOCK pixels per program, a loop over atoms, the
complex sum accumulated in registers (imports nothing from nanobrag_torch).

Per pixel p (inputs relative to nothing: the host passes the float64 reference split, see
nanobrag_torch/nearbragg/engine.py) and atom a, in the working dtype:
``q = |a|^2 - 2 p.a``, ``a2p = sqrt(|p|^2 + q)``, ``phase = phi_a + k q/(a2p + |p|)``,
``amp = w_a/a2p`` (times ``exp(-B stol^2)``, ``stol = |S - S0|/(2 lambda_A)``,
``S = (p - a)/a2p`` with HAS_B), ``re += amp cos(phase)``, ``im += amp sin(phase)``.

Pointers: px/py/pz/pp/pn [n] (pixel x, y, z, |p|^2, |p|), atom rows [m, ATOM_STRIDE]
(x, y, z, |a|^2, w, phi, B, S0x, S0y, S0z), params [2] (k in rad/m, 1/lambda in 1/A),
out_re/out_im [n]; all the working dtype.
"""
from __future__ import annotations

import triton
import triton.language as tl

from .accumulate import kernel_signature

ATOM_STRIDE = 10
GPU_BLOCK = 128
GPU_WARPS = 4
VARIANTS = {"no_B": {"HAS_B": False}, "B_factor": {"HAS_B": True}}


@triton.jit
def near_amplitude_kernel(px_ptr, py_ptr, pz_ptr, pp_ptr, pn_ptr, atom_ptr, param_ptr, out_re_ptr,
                          out_im_ptr, n_pix, n_atoms, HAS_B: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_pix
    px = tl.load(px_ptr + offs, mask=mask, other=1.0)
    py = tl.load(py_ptr + offs, mask=mask, other=0.0)
    pz = tl.load(pz_ptr + offs, mask=mask, other=0.0)
    pp = tl.load(pp_ptr + offs, mask=mask, other=1.0)
    pn = tl.load(pn_ptr + offs, mask=mask, other=1.0)
    acc_re = tl.zeros_like(px)
    acc_im = tl.zeros_like(px)
    k = tl.load(param_ptr + 0)
    inv_lam_A = tl.load(param_ptr + 1)
    quarter = inv_lam_A * inv_lam_A * 0.25
    for j in range(0, n_atoms):
        row = atom_ptr + j * 10
        ax = tl.load(row + 0)
        ay = tl.load(row + 1)
        az = tl.load(row + 2)
        aa = tl.load(row + 3)
        w = tl.load(row + 4)
        phi = tl.load(row + 5)
        q = aa - 2.0 * (px * ax + py * ay + pz * az)
        a2p = tl.sqrt(pp + q)
        phase = phi + q / (a2p + pn) * k
        amp = w / a2p
        if HAS_B:
            b = tl.load(row + 6)
            sx = (px - ax) / a2p - tl.load(row + 7)
            sy = (py - ay) / a2p - tl.load(row + 8)
            sz = (pz - az) / a2p - tl.load(row + 9)
            amp = amp * tl.exp(-b * ((sx * sx + sy * sy + sz * sz) * quarter))
        acc_re += amp * tl.cos(phase)
        acc_im += amp * tl.sin(phase)
    tl.store(out_re_ptr + offs, acc_re, mask=mask)
    tl.store(out_im_ptr + offs, acc_im, mask=mask)


def signature(dtype: str) -> dict:
    """Triton signature of `near_amplitude_kernel` for 'float32' or 'float64'."""
    return kernel_signature(near_amplitude_kernel, dtype)
