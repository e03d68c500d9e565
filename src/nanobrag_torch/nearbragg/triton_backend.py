"""Triton launcher of nearBragg's amplitude kernel (`nanobrag_kernels.nearbragg`): the same
signature as `engine.amplitude`, so `render` runs unchanged on it.  The float64 parts (the
per-atom phase, the reference phase exp(i k (|s| + |p|))) stay on the host side in torch;
the kernel does the pixel x atom loop.  This module is the only one importing the kernel."""
from __future__ import annotations

import os

import torch
import triton
from nanobrag_kernels import nearbragg as K

from . import engine

INTERPRETER_BLOCK = 4096


def _block(n: int) -> int:
    if os.environ.get("TRITON_INTERPRET") == "1":
        return min(INTERPRETER_BLOCK, triton.next_power_of_2(max(n, 16)))
    return K.GPU_BLOCK


def _atom_table(t: engine.SourceTerms) -> torch.Tensor:
    """[m, ATOM_STRIDE] rows: x, y, z, |a|^2, w, phi, B, S0 (zeros without B)."""
    m = t.a.shape[0]
    zeros = t.a.new_zeros(m)
    B = t.B if t.B is not None else zeros
    S0 = t.S0 if t.S0 is not None else t.a.new_zeros(m, 3)
    return torch.stack([t.a[:, 0], t.a[:, 1], t.a[:, 2], t.aa, t.w, t.phi, B,
                        S0[:, 0], S0[:, 1], S0[:, 2]], dim=1).contiguous()


def amplitude(p64: torch.Tensor, t: engine.SourceTerms, dtype, exact_c: bool = False) -> tuple:
    """As `engine.amplitude` (relative phases always: the kernel has no C-sequence mode).
    The kernel runs on the GPU (CPU tensors in the interpreter); the results come back to
    `p64`'s device."""
    n = p64.shape[0]
    pn64 = torch.sqrt((p64 * p64).sum(-1))
    dev = "cpu" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"
    p, pn = p64.to(dev, dtype), pn64.to(dev, dtype)
    out_re = torch.zeros(n, dtype=dtype, device=dev)
    out_im = torch.zeros_like(out_re)
    if t.a.shape[0]:
        params = torch.tensor([t.k, t.inv_lam_A], dtype=dtype, device=dev)
        block = _block(n)
        grid = (triton.cdiv(n, block),)
        opts = {} if os.environ.get("TRITON_INTERPRET") == "1" else {"num_warps": K.GPU_WARPS}
        K.near_amplitude_kernel[grid](
            p[:, 0].contiguous(), p[:, 1].contiguous(), p[:, 2].contiguous(), (pn * pn).contiguous(),
            pn.contiguous(), _atom_table(t).to(dev), params, out_re, out_im, n, t.a.shape[0],
            HAS_B=t.B is not None, BLOCK=block, **opts)
    return engine.with_reference(out_re.to(p64.device, torch.float64),
                                 out_im.to(p64.device, torch.float64), t, pn64)
