"""The torch backend's chunk kernels: pure element-wise tensor code, run eagerly or through
``torch.compile`` (then one vectorised loop without [pixel x step] intermediates in memory).

Vectors are kept as (x, y, z) tuples of tensors (structure of arrays) so every operation is
element-wise over the pixel axis, which is what lets inductor vectorise it.  Axes: P pixels
of the chunk, T detector layers, (os, os) sub-pixels (slow, fast), NS sources, M = phi
steps x mosaic domains, always in the C's loop order.  `KernelInputs` holds what does not
change within a render, built by `kernel_inputs` from the contract.  The detector's panels
(of one shape) are stacked along the slow axis: a global row is ``panel x slow + row``, so a
block of rows may span panels; `at_rows` turns global rows into rows within their panel and
gathers each row's panel frame (pix0, fdet, ...), the form every chunk function takes.
`fused_chunk` renders the common modes (factor modes C_FIRST and FIXED, nearest or
default F) reducing over steps in place, in c mode with the amorphous components of
``-bg_*`` added per pixel when the render carries them (`background_sum`); the other
functions are shared with the general path of `torch_eager`.
In c mode without -dmin nothing inside the step sum depends on the source alone, so the
(source, orientation) steps are one flat axis J = NS x M (`step_tables`): the vectorised
inner loop runs over all of them without a remainder per source.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from ..contract import FactorMode, RenderFlags, RenderInputs, WaterMode
from ..physics.lattice import f_latt_sqr
from ..physics.polarization import polarization
from ..physics.structure_factors import SFTable, nearest_F
from ..physics.vectors import rotate_axis

# Inductor settings for compiling `fused_chunk`: its step expression has more operations
# and reads than inductor's defaults allow before it stores an intermediate, which would
# split the step loop into passes over [pixel x step] buffers in memory (2x slower on W3);
# raised, the whole step sum is one loop nest with nothing but the result stored.  The
# table lookups index inside the table by construction (`nearest_F`), so the per-step
# bounds assertion inductor adds to indirect loads is off.
INDUCTOR_CONFIG = {"realize_opcount_threshold": 300, "realize_reads_threshold": 16,
                   "realize_acc_reads_threshold": 32, "assert_indirect_indexing": False}


@dataclass(frozen=True)
class KernelInputs:
    """Per-render constants; tensors in the working dtype and device unless noted."""
    # panel frame: [n_panels, 3] from `kernel_inputs`, [*si.shape, 3] per row after `at_rows`
    pix0: torch.Tensor          # m, sample -> corner of pixel (0, 0)
    fdet: torch.Tensor          # unit
    sdet: torch.Tensor          # unit
    odet: torch.Tensor          # unit
    beam_dist: torch.Tensor     # distance x beam, m (curved detector)
    sub_off: torch.Tensor       # [os] 0..os-1
    layer_off: torch.Tensor     # [T] layer depth, m
    layer_idx: torch.Tensor     # [T] 0..T-1
    incident: torch.Tensor      # [3, NS] unit incident directions (components first)
    inv_lambda: torch.Tensor    # [NS] 1/m
    source_factor: torch.Tensor  # [NS] weight multiplier (ones in c mode)
    polar_axis: torch.Tensor    # (3,) unit
    A: torch.Tensor             # [3, 3, M]: A[i, j, m] = component j of vector i (a, b, c), m
    N: torch.Tensor             # (3,) cells
    recip: torch.Tensor         # [3, 3] rows a*, b*, c*, 1/A
    sf: SFTable                 # table in the working dtype
    sub_size: torch.Tensor      # () sub-pixel size, m
    fudge: torch.Tensor         # () shape fudge factor
    pixel_size: torch.Tensor    # () m
    close_distance: torch.Tensor  # [n_panels] m, [*si.shape] after `at_rows`
    distance: torch.Tensor      # [n_panels] m, along the beam (curved detector); idem
    step_mu: torch.Tensor       # () layer thickness x attenuation (dimensionless)
    I_bg: torch.Tensor          # () c mode water term (the C's formula)
    water_coeff: torch.Tensor   # () fixed mode: F_w^2 x molecules x steps
    dmin: torch.Tensor | None   # () m, None when -dmin is off
    kahn: torch.Tensor | float  # () Kahn factor, or the float 0.0 (unpolarized formula)
    shape: str                  # the remaining fields select code paths (compile-time)
    thick: bool
    nopolar: bool
    point_pixel: bool
    curved: bool
    water: bool
    fixed: bool
    background: bool = False    # amorphous components in the c-mode sum (`background_sum`)
    bg_nodes: torch.Tensor | None = None    # [K] int64, the contract's (RenderInputs.bg_*)
    bg_scale: torch.Tensor | None = None    # [NS]
    bg_top: torch.Tensor | None = None      # ()
    bg_weight: torch.Tensor | None = None   # [NS]
    bg_image: torch.Tensor | None = None    # [S, F] photons; the block's rows [R, C] (`block_rows`)
    photon_scale: torch.Tensor | None = None  # ()

    def tensors(self) -> dict:
        """The tensor-valued fields (the inputs of an ahead-of-time compiled kernel)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)}

    def flags(self) -> dict:
        """The fields that select code paths (part of a compiled kernel's identity)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not isinstance(getattr(self, f.name), (torch.Tensor, SFTable))
                and not f.name.startswith("bg_")}


def kernel_inputs(inp: RenderInputs, flags: RenderFlags) -> KernelInputs:
    """The kernel constants of every panel from contract inputs already in the working dtype."""
    dt, dev = inp.pix0.dtype, inp.pix0.device
    return KernelInputs(
        pix0=inp.pix0, fdet=inp.fdet, sdet=inp.sdet, odet=inp.odet, beam_dist=inp.beam_dist,
        sub_off=torch.arange(inp.oversample, dtype=dt, device=dev),
        layer_off=inp.layer_depth, layer_idx=torch.arange(inp.thicksteps, dtype=dt, device=dev),
        incident=inp.incident.T, inv_lambda=inp.inv_lambda, source_factor=inp.source_weight,
        polar_axis=inp.polar_axis, A=inp.A.permute(1, 2, 0), N=inp.N, recip=inp.recip,
        sf=SFTable(inp.sf_table, inp.sf_mins, inp.sf_ranges, inp.default_F),
        sub_size=inp.sub_size, fudge=inp.fudge, pixel_size=inp.pixel_size,
        close_distance=inp.close_distance, distance=inp.distance, step_mu=inp.step_mu,
        I_bg=inp.water_I_bg, water_coeff=inp.water_scale, dmin=inp.dmin if flags.dmin else None,
        kahn=inp.kahn if flags.kahn else 0.0, shape=flags.shape.value, thick=flags.thick,
        nopolar=flags.polar_off, point_pixel=flags.point_pixel, curved=flags.curved,
        water=flags.water != WaterMode.NONE, fixed=flags.factors == FactorMode.FIXED,
        background=flags.background, bg_nodes=inp.bg_nodes, bg_scale=inp.bg_scale,
        bg_top=inp.bg_top, bg_weight=inp.bg_weight,
        bg_image=inp.bg_image if flags.background_image else None,
        photon_scale=inp.photon_scale if flags.background_image else None)


PANEL_FRAME = ("pix0", "fdet", "sdet", "odet", "beam_dist", "close_distance", "distance")


def at_rows(k: KernelInputs, si: torch.Tensor, panel_rows: int) -> tuple:
    """(rows within their panel, `k` with each row's panel frame [*si.shape, ...]) for global
    rows `si` (``panel x panel_rows + row``; any shape, e.g. [R, 1] or a pixel list [P])."""
    if k.pix0.shape[0] == 1:           # one panel: its frame for every row, as views (~0.4 ms less)
        return si, replace(k, **{name: getattr(k, name).expand(*si.shape, *getattr(k, name).shape[1:])
                                 for name in PANEL_FRAME})
    panel = torch.div(si, panel_rows, rounding_mode="floor")
    return si - panel * panel_rows, replace(k, **{name: getattr(k, name)[panel] for name in PANEL_FRAME})


def block_rows(k: KernelInputs, start: int, stop: int) -> KernelInputs:
    """`k` for a block of whole rows ``start:stop`` of one panel: its rows of ``bg_image``
    (a view), or `k` itself without one."""
    return k if k.bg_image is None else replace(k, bg_image=k.bg_image[start:stop])


def per_pixel(v: torch.Tensor, si, fi, flat: bool = True) -> torch.Tensor:
    """Per-row values `v` [*si.shape, ...] (`at_rows`) for each pixel: [P, 1, 1, 1, ...];
    `flat` False: [*si.shape, 1, 1, 1, ...], broadcasting against a block's [R, C, ...]."""
    tail = tuple(v.shape[si.dim():])
    if not flat:
        return v.reshape(*si.shape, 1, 1, 1, *tail)
    ones = torch.ones_like(fi, dtype=v.dtype).reshape(*fi.shape, *(1,) * len(tail))
    return (v * ones).reshape(-1, 1, 1, 1, *tail)            # pointwise, so the kernel fuses it


def pixel_positions(si, fi, k: KernelInputs, flat: bool = True) -> tuple:
    """Sub-pixel positions (x, y, z), m from the sample, each [P, T, os, os].

    `si`, `fi`: slow (within the panel) and fast pixel indices of broadcastable shapes (e.g.
    [R, 1] and [1, C] for a block of rows), `k` at those rows (`at_rows`); P is the broadcast
    pixel count, in row-major order.  `flat` False (not for the curved detector): each
    [*block, T, os, os] with the block's broadcast shape (e.g. [R, C]), so a compiled kernel
    loops over rows and columns instead of dividing a flat pixel index by the row length."""
    dt = k.pix0.dtype
    T, os_ = k.layer_off.shape[0], k.sub_off.shape[0]
    F = ((fi.to(dt)[..., None] * os_ + k.sub_off) * k.sub_size + k.sub_size / 2.0)[..., None, None, :]
    S = ((si.to(dt)[..., None] * os_ + k.sub_off) * k.sub_size + k.sub_size / 2.0)[..., None, :, None]
    O = k.layer_off[:, None, None]
    fdet, sdet, odet, pix0 = (v[..., None, None, None, :] for v in (k.fdet, k.sdet, k.odet, k.pix0))
    pos = [F * fdet[..., i] + S * sdet[..., i] + O * odet[..., i] + pix0[..., i] for i in range(3)]
    if flat or k.curved:
        pos = [x.reshape(-1, T, os_, os_) for x in pos]
    if k.curved:        # the C: distance x beam turned about sdet then fdet by the flat y, z
        base = per_pixel(k.beam_dist, si, fi).expand(*pos[0].shape, 3)
        distance = per_pixel(k.distance, si, fi)
        turned = rotate_axis(base, per_pixel(k.sdet, si, fi), pos[1] / distance)
        pos = rotate_axis(turned, per_pixel(k.fdet, si, fi), pos[2] / distance).unbind(-1)
    return tuple(pos)


def geometry_at(pos, k: KernelInputs, si, fi, per_close: bool = False, flat: bool = True):
    """(airpath R, unit diffracted vector (x, y, z), solid angle, capture fraction), each
    [P, T, os, os] (`flat` False: as `pos`), at sub-pixel positions `pos` of pixels (si, fi)
    (`pixel_positions`); `per_close`: the solid angle divided by the pixel's close distance
    (`fused_chunk`)."""
    R2 = pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2]
    R = torch.sqrt(R2)
    d = tuple(p / R for p in pos)
    if k.point_pixel:
        omega = 1.0 / R2
    else:
        omega = k.pixel_size * k.pixel_size / R2
        omega = (omega if per_close else omega * per_pixel(k.close_distance, si, fi, flat)) / R
    if k.thick:
        odet = per_pixel(k.odet, si, fi, flat)
        par = d[0] * odet[..., 0] + d[1] * odet[..., 1] + d[2] * odet[..., 2]
        t = k.layer_idx[:, None, None]
        capture = torch.exp(-t * k.step_mu / par) - torch.exp(-(t + 1) * k.step_mu / par)
    else:
        capture = torch.ones_like(R)
    return R, d, omega, capture


def pixel_geometry(si, fi, k: KernelInputs, per_close: bool = False, flat: bool = True):
    """Unit diffracted vector (x, y, z), solid angle and capture fraction, each [P, T, os, os]
    (`per_close` as `geometry_at`; `flat` as `pixel_positions`)."""
    _, d, omega, capture = geometry_at(pixel_positions(si, fi, k, flat), k, si, fi, per_close, flat)
    return d, omega, capture


def source_terms(d, k: KernelInputs):
    """Scattering vector (x, y, z) in 1/m, dmin keep mask and polarization, each [P, T, os, os, NS]."""
    inc = k.incident
    scat = tuple((d[i][..., None] - inc[i]) * k.inv_lambda for i in range(3))
    keep = torch.ones_like(scat[0])
    if k.dmin is not None:
        stol = 0.5 * torch.sqrt(scat[0] * scat[0] + scat[1] * scat[1] + scat[2] * scat[2])
        keep = torch.where((stol > 0) & (k.dmin * stol > 0.5), torch.zeros_like(keep), keep)
    if k.nopolar:
        polar = torch.ones_like(keep)
    else:
        polar = polarization(k.kahn, tuple(inc), tuple(x[..., None] for x in d), k.polar_axis)
    return scat, keep, polar


def miller(scat, A):
    """Fractional (h, k, l), each [..., M], for scattering vectors (x, y, z) [...] and A [3, 3, M]."""
    sx, sy, sz = (x[..., None] for x in scat)
    return tuple(sx * A[i, 0] + sy * A[i, 1] + sz * A[i, 2] for i in range(3))


def stored(x: torch.Tensor) -> torch.Tensor:
    """`x` [n, ...] unchanged, as a strided view of itself, so a compiled kernel stores it
    once, rows contiguous (inductor realizes the input of an ``as_strided`` into a buffer):
    the step loop then loads these numbers instead of inlining their computation or index
    arithmetic.  Eagerly, `x` itself."""
    x = x.contiguous()
    return torch.as_strided(x, x.shape, x.stride())


def background_sum(d, k: KernelInputs) -> torch.Tensor:
    """The amorphous components of a c-mode pixel (`RenderFlags.background`) with one layer,
    sub-pixel and source, [...] as `d` without its (T, os, os) axes: G(stol) x the source's
    weight, G interpolated linearly between the nodes ``bg_nodes`` at node coordinate
    |d - incident| x ``bg_scale`` (held at ``bg_top``), as `nonbragg.fast32` renders the
    components' scaled sum.  Added to the step sum before the pixel's cached factors, it gets
    the polarization, solid angle and capture of its one term, as nonBragg weights it."""
    inc = k.incident
    if tuple(d[0].shape[-3:]) != (1, 1, 1) or inc.shape[1] != 1:
        raise ValueError("amorphous components in the kernel need one layer, sub-pixel and source")
    s = tuple(d[i][..., 0, 0, 0] - inc[i, 0] for i in range(3))
    at = torch.sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]) * k.bg_scale[0]
    at = torch.where(at < k.bg_top, at, k.bg_top)       # NaN too: the index stays in the table
    node = at.to(torch.int64)                                              # at >= 0: floor
    # one 64-bit load per lookup holds both float32 numbers of a node; gather, not indexing:
    # inductor then loads without wrapping negative indices.  The int32 casts keep the low
    # 32 bits (two's complement), the bits of each float32
    pair = torch.gather(k.bg_nodes, 0, node.reshape(-1)).reshape(node.shape)
    G0, dG = (x.to(torch.int32).view(torch.float32) for x in (pair, pair >> 32))
    return (G0 + (at - torch.floor(at)) * dG) * k.bg_weight[0]


def c_first_values(polar, omega, capture, keep, nopolar: bool):
    """The C's cached factors: polarization at the first non-skipped (layer, sub-pixel,
    source) -- 0 if every step is skipped, 1 with -nopolar --, solid angle at the first
    sub-pixel, capture at the last layer's first: [P]."""
    P = omega.shape[0]
    flat_keep = keep.reshape(P, -1)
    first = torch.argmax(flat_keep, dim=1)
    polar_first = polar.reshape(P, -1).gather(1, first[:, None])[:, 0]
    if not nopolar:
        polar_first = polar_first * flat_keep.amax(1)
    return polar_first, omega[:, 0, 0, 0], capture[:, -1, 0, 0]


def fixed_factors(polar, omega, capture, k: KernelInputs):
    """Per (layer, sub-pixel, source) factor of fixed mode [P, T, os, os, NS]."""
    return (capture * omega)[..., None] * polar * k.source_factor


def fixed_water(g, k: KernelInputs):
    """Fixed-mode water term per pixel [P]: mean over sub-pixels and sources, summed over layers."""
    P, T = g.shape[0], g.shape[1]
    return k.water_coeff * g.reshape(P, -1).sum(1) / (g[0].numel() // T)


def combine(I_tsn, keep, polar, omega, capture, k: KernelInputs):
    """(I_geom [P], omega_sum [P]) from the per-(layer, sub-pixel, source) step sums I_tsn
    [P, T, os, os, NS]: fixed mode weights each by its own factors and source weight; c mode
    sums and applies the C's cached factors (every mode but the running-sum quirk)."""
    P = omega.shape[0]
    if k.fixed:
        g = fixed_factors(polar, omega, capture, k)
        I = (I_tsn * g).reshape(P, -1).sum(1)
        if k.water:
            I = I + fixed_water(g, k)
        return I, omega.reshape(P, -1).sum(1)
    polar_first, omega_first, cap_last = c_first_values(polar, omega, capture, keep, k.nopolar)
    I = k.I_bg + (I_tsn * k.source_factor).reshape(P, -1).sum(1)
    return I * cap_last * polar_first * omega_first, omega_first * omega[0].numel()


def step_tables(k: KernelInputs) -> tuple:
    """Per-step constants of the flattened (source, orientation) axis J = NS x M, source
    outer as the C loops: incident components [3, J], A / lambda [3, 3, J] and the
    source weights [J]."""
    NS, M = k.inv_lambda.shape[0], k.A.shape[2]
    inc = k.incident[:, :, None].expand(3, NS, M)
    W = (k.A[:, :, None, :] * k.inv_lambda[:, None]).reshape(9, NS, M)
    w = k.source_factor[None, :, None].expand(1, NS, M)
    flat = stored(torch.cat([inc, W, w])).reshape(13, NS * M)
    return flat[:3], flat[3:12].reshape(3, 3, NS * M), flat[12]


def one_step(k: KernelInputs) -> bool:
    """Whether the render has one (source, orientation) step, known as a plain int when
    traced: a package of such a render has both axes as static 1s (`compile_policy`)."""
    J = k.inv_lambda.shape[0] * k.A.shape[2]
    return isinstance(J, int) and J == 1


def _flat_steps(d, k: KernelInputs):
    """Sum over (source, orientation) of F^2 F_latt^2 x source weight [P, T, os, os] (c mode
    without -dmin: no per-source factor inside the sum), the steps one flat vectorised axis.
    The directions are stored once per pixel for several steps (each step loads them); for
    one step they are used where they are computed (stored, the kernel wrote and read back
    12 bytes a pixel, and amorphous components inside it cost twice as much: W1 ~0.7 against
    ~0.35 ms, interleaved)."""
    inc, W, w = step_tables(k)
    d = d if one_step(k) else stored(torch.stack(d))
    s = tuple(x[..., None] - inc[c] for c, x in enumerate(d))                       # [..., J]
    h = tuple(s[0] * W[i, 0] + s[1] * W[i, 1] + s[2] * W[i, 2] for i in range(3))
    F2 = torch.square(nearest_F(k.sf, h))
    return (F2 * f_latt_sqr(h, k.N, k.shape, k.fudge, k.recip, not k.fixed) * w).sum(-1)


def fused_chunk(si, fi, k: KernelInputs, steps=_flat_steps):
    """(I_geom [P], omega_sum [P]) for pixels (si, fi) in the common modes (see module doc);
    `steps`: the c-mode step sum (`_flat_steps`, or its compiled twin `numba_steps.flat_steps`).
    Both are linear in the solid angle, so the per-pixel close distance (a panel's) scales
    them after the reduction over steps: the per-step work is that of a single panel."""
    scaled = not k.point_pixel
    general = k.fixed or k.dmin is not None
    # the c-mode block stays [R, C, ...] until the end (not for a curved detector); the
    # fixed and -dmin forms work on [P, ...]
    flat = general or k.curved
    d, omega, capture = pixel_geometry(si, fi, k, per_close=scaled, flat=flat)
    if general and k.background:
        raise ValueError("amorphous components in the kernel need the c-mode sum (no -dmin, not fixed)")
    if general:
        scat, keep, polar = source_terms(d, k)
        h = miller(stored(torch.stack(scat)), k.A)
        I_tsn = (torch.square(nearest_F(k.sf, h)) * f_latt_sqr(h, k.N, k.shape, k.fudge, k.recip, not k.fixed)).sum(-1) * keep
        I, om = combine(I_tsn, keep, polar, omega, capture, k)
    else:
        # c mode, every source kept: the C's first polarization is the first sub-pixel's, source 0's
        I = k.I_bg + steps(d, k).flatten(-3).sum(-1)
        if k.background:
            bg = background_sum(d, k)
            # with an HKL table and the directions stored (several steps) in a stored pass of
            # its own: fused, inductor re-planned the table's loop (W4 with stored directions:
            # +4-6 ms against +0.7 ms); otherwise fused costs less (W4: ~0.46 against ~0.8 ms)
            I = I + (stored(bg) if k.sf.table is not None and not one_step(k) else bg)
        if not k.nopolar:
            inc0 = tuple(x[:1] for x in k.incident)
            I = I * polarization(k.kahn, inc0, tuple(x[..., 0, 0, 0, None] for x in d), k.polar_axis)[..., 0]
        omega_first = omega[..., 0, 0, 0]
        per_pixel_terms = omega.shape[-3] * omega.shape[-2] * omega.shape[-1]  # T os os (Size.numel specialises)
        I, om = I * capture[..., -1, 0, 0] * omega_first, omega_first * per_pixel_terms
    if scaled:
        close = per_pixel(k.close_distance, si, fi, flat)[..., 0, 0, 0]        # [P] or [R, 1]
        I, om = I * close, om * close
    if k.bg_image is not None:      # photons plus the kept background, each sum rounded as
        I = I * k.photon_scale + k.bg_image.reshape(I.shape)    # to_photons, add_background
    return I.reshape(-1), om.reshape(-1)
