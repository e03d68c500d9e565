"""The step sum of the fused kernel compiled by numba: a cold start's compiled CPU path.

An AOTInductor package of the fused kernel takes ~20 s to build (`compile_policy`); numba
compiles the loop a render uses in ~0.7 s (after ~0.2 s to import numba and its CPU target
loaded without scipy, `lazy_numba.load_target`).  So a big render of a kind with no package
yet runs `fused_chunk` with its inner sum over the flat (source x orientation) steps,
`_flat_steps`, replaced by `flat_steps` here (each pixel's geometry, polarization and solid angle stay the
torch code, ~1 % of the work); the package for later renders is built when the process exits.

The numba twins carry the names of their torch originals: `sinpi_over` and `sinpi_ratio_sqr`
(`physics.lattice`, the polynomial form the compiled kernels use), `nearest_F`
(`physics.structure_factors`), `flat_steps` (`torch_kernel._flat_steps`).  Covered: the
square crystal in c mode without -dmin (the forms `_flat_steps` handles), on the CPU,
without gradients (`compile_policy._numba_covers`); anything else stays on the eager
kernel.  Per pixel the steps run in order of the flat axis, summed in the working dtype
with reassociation allowed (the compiled kernels vectorise that sum too), so results differ
from the eager kernel's in the last bits, as the compiled kernel's do (`specs/tolerances.md`,
compiled kernels).

numba is imported with this module (`compile_policy` imports it only when a render uses it);
machine code is not cached on disk, so an empty ``NANOBRAG_CACHE`` is a truly cold start.
"""
from __future__ import annotations

import threading

import numpy as np
import torch
from numba import njit

from ..lazy_numba import load_target
from ..physics.lattice import _SINPI_S32, _SINPI_S64
from . import torch_kernel as tk

_FASTMATH = True          # reassociation lets LLVM vectorise the sum over steps

_S32 = tuple(np.float32(c) for c in _SINPI_S32)
_S64 = tuple(np.float64(c) for c in _SINPI_S64)


def _sinpi_over_for(coef: tuple):
    """`sinpi_over` for one dtype's coefficients (`physics.lattice._sinpi_over`), Horner's
    rule written out so the step loop stays one vectorisable body."""
    if len(coef) == 5:
        c0, c1, c2, c3, c4 = coef

        @njit(inline="always", fastmath=_FASTMATH)
        def sinpi_over(u):
            return (((c4 * u + c3) * u + c2) * u + c1) * u + c0
        return sinpi_over
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 = coef

    @njit(inline="always", fastmath=_FASTMATH)
    def sinpi_over(u):
        return ((((((((((c10 * u + c9) * u + c8) * u + c7) * u + c6) * u + c5) * u + c4) * u + c3)
                  * u + c2) * u + c1) * u + c0)
    return sinpi_over


def _kernel_for(coef: tuple):
    """`flat_steps`'s compiled loops for one dtype: (table_steps, default_steps)."""
    sinpi_over = _sinpi_over_for(coef)
    half = coef[0].dtype.type(0.5)

    @njit(inline="always", fastmath=_FASTMATH)
    def sinpi_ratio_sqr(x, n, n2, inv_n2):
        """(num, den): num / den = sin^2(pi n x) / sin^2(pi x) (`lattice._sinpi_ratio_sqr`)."""
        y = n * (x - np.rint(x))
        r = y - np.rint(y)
        u = y * y * inv_n2
        s1 = sinpi_over(r * r)
        s2 = sinpi_over(u)
        if abs(y) > half:
            return r * r * s1 * s1, u * s2 * s2
        return n2 * s1 * s1, s2 * s2

    @njit(inline="always", fastmath=_FASTMATH)
    def nearest_F(h, k, l, table, mins, ranges, default_F):
        """|F| of the nearest node, default_F outside the table (`structure_factors.nearest_F`)."""
        ih = np.int64(np.ceil(h - half)) - mins[0]
        ik = np.int64(np.ceil(k - half)) - mins[1]
        il = np.int64(np.ceil(l - half)) - mins[2]
        inside = (ih >= 0) & (ih < ranges[0]) & (ik >= 0) & (ik < ranges[1]) & (il >= 0) & (il < ranges[2])
        # an unconditional load (node 0 for an outside node) and no branch before it: a
        # branch there left reference counts of `table` in the step loop, which then stayed
        # scalar (4e7 against 3.3e8 steps per second per thread; `test_numba_steps`)
        value = table[((ih * ranges[1] + ik) * ranges[2] + il) * np.int64(inside)]
        return value if inside else default_F

    @njit(inline="always", fastmath=_FASTMATH)
    def lattice(dx, dy, dz, inc, W, j, n, n2, inv_n2):
        """(h, k, l, F_latt^2) of step j for the unit vector (dx, dy, dz)."""
        sx, sy, sz = dx - inc[0, j], dy - inc[1, j], dz - inc[2, j]
        h = sx * W[0, j] + sy * W[1, j] + sz * W[2, j]
        k = sx * W[3, j] + sy * W[4, j] + sz * W[5, j]
        l = sx * W[6, j] + sy * W[7, j] + sz * W[8, j]
        a, b = sinpi_ratio_sqr(h, n[0], n2[0], inv_n2[0])
        c, e = sinpi_ratio_sqr(k, n[1], n2[1], inv_n2[1])
        f, g = sinpi_ratio_sqr(l, n[2], n2[2], inv_n2[2])
        return h, k, l, (a * c * f) / (b * e * g)

    @njit(nogil=True, fastmath=_FASTMATH, error_model="numpy")
    def table_steps(d, inc, W, w, n, n2, inv_n2, table, mins, ranges, default_F, out, q0, q1):
        """out[q] = sum_j F^2 F_latt^2 w[j] for q in [q0, q1), unit vectors d [3, Q], steps
        inc [3, J], W [9, J] (A / lambda, row-major 3x3 per step), w [J]; n (3,) cells (1
        where the C skips the axis), n2 = n^2, inv_n2 = 1 / n^2; F from `table` (flat),
        default_F outside it.  One loop body with every helper inlined, so LLVM vectorises
        it (as separate functions the lookup loop was not: 2e7 against 2.2e8 steps per
        second)."""
        for q in range(q0, q1):
            dx, dy, dz = d[0, q], d[1, q], d[2, q]
            acc = half - half
            for j in range(inc.shape[1]):
                h, k, l, L = lattice(dx, dy, dz, inc, W, j, n, n2, inv_n2)
                F = nearest_F(h, k, l, table, mins, ranges, default_F)
                acc += F * F * L * w[j]
            out[q] = acc

    @njit(nogil=True, fastmath=_FASTMATH, error_model="numpy")
    def default_steps(d, inc, W, w, n, n2, inv_n2, default_F, out, q0, q1):
        """`table_steps` without a table: default_F for every node, factored out of the sum."""
        for q in range(q0, q1):
            dx, dy, dz = d[0, q], d[1, q], d[2, q]
            acc = half - half
            for j in range(inc.shape[1]):
                acc += lattice(dx, dy, dz, inc, W, j, n, n2, inv_n2)[3] * w[j]
            out[q] = acc * (default_F * default_F)
    # two kernels, not one with a branch: numba compiles only the one a render uses (its
    # typing and lowering are most of a cold start's ~1 s of compiling)
    return table_steps, default_steps


load_target()         # numba's CPU target without its scipy probe (~0.3 s; see there)
_KERNELS = {torch.float32: _kernel_for(_S32), torch.float64: _kernel_for(_S64)}


def flat_steps(d, k: tk.KernelInputs) -> torch.Tensor:
    """`torch_kernel._flat_steps` compiled: the sum over (source, orientation) steps of
    F^2 F_latt^2 x source weight, [P, T, os, os] for unit vectors `d` (x, y, z) of that shape."""
    inc, W, w = tk.step_tables(k)
    dt = d[0].dtype
    shape = d[0].shape
    vec = torch.stack([x.reshape(-1) for x in d]).numpy()
    n = torch.where(k.N > 1, k.N, torch.ones_like(k.N)).to(dt).numpy()
    n2 = n * n
    Q = vec.shape[1]
    out = np.empty(Q, dtype=vec.dtype)
    head = (vec, np.ascontiguousarray(inc.numpy()), np.ascontiguousarray(W.reshape(9, -1).numpy()),
            np.ascontiguousarray(w.numpy()), n, n2, (1 / n2).astype(n.dtype))
    default_F = vec.dtype.type(float(k.sf.default_F))
    table_steps, default_steps = _KERNELS[dt]
    if k.sf.table is None:
        kernel, args = default_steps, (*head, default_F, out)
    else:
        kernel, args = table_steps, (*head, k.sf.table.reshape(-1).to(dt).numpy(),
                                     np.asarray(k.sf.mins, dtype=np.int64),
                                     np.asarray(k.sf.ranges, dtype=np.int64), default_F, out)
    threads = min(torch.get_num_threads(), max(1, Q // 1024))
    slices = 8 * threads                  # interleaved, so uneven slices (table hits) even out
    bounds = [Q * i // slices for i in range(slices + 1)]

    def work(t: int) -> None:
        for i in range(t, slices, threads):
            kernel(*args, bounds[i], bounds[i + 1])
    # the kernel releases the GIL: threads per call (~0.1 ms; a pool's idle workers would
    # hold up `errors.exit_now`), the last share on this thread
    helpers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads - 1)]
    for thread in helpers:
        thread.start()
    work(threads - 1)
    for thread in helpers:
        thread.join()
    return torch.from_numpy(out).reshape(shape)


def fused_chunk(si, fi, k: tk.KernelInputs):
    """`torch_kernel.fused_chunk` with the step sum compiled here (same arguments, results)."""
    return tk.fused_chunk(si, fi, k, steps=flat_steps)
