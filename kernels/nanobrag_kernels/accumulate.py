"""The fused nanoBragg accumulation: one launch renders every pixel's intensity sum.

Each program owns a tile of BLOCK pixels (one lane per pixel) and walks the C's loops in
the C's order, keeping every per-pixel quantity in registers:

    detector layer t -> sub-pixel (subS, subF) -> source n -> orientation m (phi x mosaic)

The direct cell vectors of every orientation are rotated on the host in float64 and read
from ``A`` [M, 3, 3] (rows a, b, c; metres); the kernel never rotates a cell.  Geometry
(sub-pixel position, diffracted direction, solid angle, capture fraction, polarization)
is float64; the hot loop (Miller indices, lattice factor, structure factor) runs in the
dtype of ``A`` (float32 or float64), with the fractional index reduced to h - round(h)
before any sine so float32 keeps its accuracy near Bragg peaks.  Sums are float64.

Three passes share this one body (``MODE``), so they evaluate bit-identical indices:

- ``MODE_FREE``: per pixel, the first (layer, sub-pixel, source) index ``tsn`` that
  ``-dmin`` does not skip (the host finds where the C's first phi sweep happens);
- ``MODE_PROBE``: per pixel, the first step whose tricubic stencil leaves the HKL table
  (the host picks the image-order first one: the C's global interpolation switch-off);
- ``MODE_RENDER``: the pixel sums ``I_geom`` (float64) and the solid-angle sums.

A pixel's step index is ``tsn * M + m`` with ``tsn = (t * S + sub) * NS + n``.
Every C-or-fixed behaviour is a compile-time flag: ``FACTORS`` selects how
polarization, solid angle and capture enter (``C_FIRST``: the C's first-value factors;
``C_RUNNING``: the C's running-sum ``-oversample_*`` multiply; ``FIXED``: each sub-step
its own factors), ``INTERP`` enables tricubic F and ``HAS_FIRST`` the phi = 0 carry-over
first visit (``A_first`` for the one sweep at pixel ``first_pix``, index ``first_tsn``).
"""
import triton
import triton.language as tl

from ._math import (GAUSS, SHAPE_NAMES, SQUARE, f_latt_sqr, nearest_F, out_of_range,
                    polarization, rotate_axis, tricubic_F)

MODE_FREE, MODE_PROBE, MODE_RENDER = (tl.constexpr(i) for i in range(3))    # the MODE flag
C_FIRST, C_RUNNING, FIXED = (tl.constexpr(i) for i in range(3))              # the FACTORS flag
NONE = tl.constexpr(2 ** 31 - 1)        # "no such step" in the int32 index outputs

# The float64 parameter table (name, width), in order; the host packs it with `pack`.
PARAMS = (("fdet", 3), ("sdet", 3), ("odet", 3), ("pix0", 3), ("beam", 3),
          ("distance", 1), ("close_distance", 1), ("pixel_size", 1), ("thickstep", 1),
          ("step_mu", 1), ("dmin", 1), ("kahn", 1), ("fudge", 1), ("N", 3),
          ("default_F", 1), ("I_bg", 1), ("water_fixed", 1), ("recip", 9))
# The float64 source table [NS, SOURCE_STRIDE]: incident direction, wavelength (m),
# B_in and E_in (polarization frame), weight factor.
SOURCE_COLUMNS = (("incident", 3), ("lambda", 1), ("B_in", 3), ("E_in", 3), ("weight", 1))


def _offsets(layout) -> dict:
    out, at = {}, 0
    for name, width in layout:
        out[name] = at
        at += width
    return out


_P = _offsets(PARAMS)
_S = _offsets(SOURCE_COLUMNS)
P_FDET, P_SDET, P_ODET = tl.constexpr(_P["fdet"]), tl.constexpr(_P["sdet"]), tl.constexpr(_P["odet"])
P_PIX0, P_BEAM = tl.constexpr(_P["pix0"]), tl.constexpr(_P["beam"])
P_DISTANCE, P_CLOSE = tl.constexpr(_P["distance"]), tl.constexpr(_P["close_distance"])
P_PIXEL, P_THICKSTEP = tl.constexpr(_P["pixel_size"]), tl.constexpr(_P["thickstep"])
P_STEP_MU, P_DMIN, P_KAHN = tl.constexpr(_P["step_mu"]), tl.constexpr(_P["dmin"]), tl.constexpr(_P["kahn"])
P_FUDGE, P_N, P_DEFAULT_F = tl.constexpr(_P["fudge"]), tl.constexpr(_P["N"]), tl.constexpr(_P["default_F"])
P_I_BG, P_WATER, P_RECIP = tl.constexpr(_P["I_bg"]), tl.constexpr(_P["water_fixed"]), tl.constexpr(_P["recip"])
S_INCIDENT, S_LAMBDA = tl.constexpr(_S["incident"]), tl.constexpr(_S["lambda"])
S_B, S_E, S_WEIGHT = tl.constexpr(_S["B_in"]), tl.constexpr(_S["E_in"]), tl.constexpr(_S["weight"])
SOURCE_STRIDE = tl.constexpr(sum(w for _, w in SOURCE_COLUMNS))


def pack(layout, values: dict) -> list:
    """Flatten {name: float or sequence} into the order of `layout` (PARAMS, SOURCE_COLUMNS)."""
    out = []
    for name, width in layout:
        v = [values[name]] if width == 1 else list(values[name])
        if len(v) != width:
            raise ValueError(f"{name}: expected {width} values, got {len(v)}")
        out.extend(float(x) for x in v)
    return out


@triton.jit
def _load3(ptr):
    return tl.load(ptr), tl.load(ptr + 1), tl.load(ptr + 2)


@triton.jit
def _cell_vector(ptr, first_ptr, visit, HAS_FIRST: tl.constexpr):
    """One rotated cell vector (3 values); with HAS_FIRST, A_first's on the `visit` lanes."""
    x, y, z = _load3(ptr)
    if HAS_FIRST:
        fx, fy, fz = _load3(first_ptr)
        x, y, z = tl.where(visit, fx, x), tl.where(visit, fy, y), tl.where(visit, fz, z)
    return x, y, z


INT_ARGS = ("n_pix", "fpixels", "n_src", "n_orient", "h_min", "k_min", "l_min", "h_range",
            "k_range", "l_range", "thicksteps", "oversample", "curved", "point_pixel",
            "thick_on", "polarize", "water_on", "os_thick", "os_polar", "os_omega",
            "first_pix", "first_tsn", "switch_pix", "switch_step")


@triton.jit(do_not_specialize=INT_ARGS)
def accumulate_kernel(
        out_ptr, omega_ptr, first_ptr,            # [n_pix] f64, f64, i32 outputs
        pix_ptr, n_pix, fpixels,                  # [n_pix] i32 flat pixel indices, image order
        par_ptr, src_ptr, n_src,                  # f64 PARAMS table, [NS, SOURCE_STRIDE] f64
        A_ptr, A_first_ptr, n_orient,             # [M, 3, 3] working dtype (rows a, b, c, m)
        F_ptr, h_min, k_min, l_min, h_range, k_range, l_range,   # |F| table, working dtype
        thicksteps, oversample, curved, point_pixel, thick_on, polarize, water_on,
        os_thick, os_polar, os_omega,             # the C's -oversample_thick/_polar/_omega
        first_pix, first_tsn, switch_pix, switch_step,
        MODE: tl.constexpr, SHAPE: tl.constexpr, FACTORS: tl.constexpr,
        INTERP: tl.constexpr, HAS_FIRST: tl.constexpr, BLOCK: tl.constexpr):
    DT = A_ptr.dtype.element_ty
    lane = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = lane < n_pix
    pix = tl.load(pix_ptr + lane, mask=live, other=0)
    fpix = (pix % fpixels).to(tl.float64)
    spix = (pix // fpixels).to(tl.float64)

    # detector geometry (float64, metres)
    fdx, fdy, fdz = _load3(par_ptr + P_FDET)
    sdx, sdy, sdz = _load3(par_ptr + P_SDET)
    odx, ody, odz = _load3(par_ptr + P_ODET)
    p0x, p0y, p0z = _load3(par_ptr + P_PIX0)
    bmx, bmy, bmz = _load3(par_ptr + P_BEAM)
    distance = tl.load(par_ptr + P_DISTANCE)
    close_distance = tl.load(par_ptr + P_CLOSE)
    pixel_size = tl.load(par_ptr + P_PIXEL)
    thickstep = tl.load(par_ptr + P_THICKSTEP)
    step_mu = tl.load(par_ptr + P_STEP_MU)
    kahn = tl.load(par_ptr + P_KAHN)
    sub_size = pixel_size / oversample
    n_sub = oversample * oversample
    # crystal constants in the working dtype
    dmin = tl.load(par_ptr + P_DMIN).to(DT)
    fudge = tl.load(par_ptr + P_FUDGE).to(DT)
    Na = tl.load(par_ptr + P_N).to(DT)
    Nb = tl.load(par_ptr + P_N + 1).to(DT)
    Nc = tl.load(par_ptr + P_N + 2).to(DT)
    default_F = tl.load(par_ptr + P_DEFAULT_F).to(DT)
    r00, r01, r02 = _load3(par_ptr + P_RECIP)        # unrotated reciprocal rows a*, b*, c*
    r10, r11, r12 = _load3(par_ptr + P_RECIP + 3)    # (1/A; gauss and tophat)
    r20, r21, r22 = _load3(par_ptr + P_RECIP + 6)

    # per-pixel state, in the C's variable names where it has one
    if FACTORS == FIXED:
        I = tl.zeros([BLOCK], tl.float64)
    else:
        I = tl.zeros([BLOCK], tl.float64) + tl.load(par_ptr + P_I_BG)
    water_g = tl.zeros([BLOCK], tl.float64)        # FIXED: sum of the factors for water
    omega_sum = tl.zeros([BLOCK], tl.float64)
    omega_pix = tl.zeros([BLOCK], tl.float64)      # the C's cached omega_pixel
    polar_pix = tl.zeros([BLOCK], tl.float64) + (polarize == 0).to(tl.float64)  # cached polar
    cap_pix = tl.zeros([BLOCK], tl.float64)        # cached capture_fraction (reset per layer)
    first = tl.full([BLOCK], NONE, tl.int32)
    if INTERP and FACTORS != FIXED:                # c: tricubic for steps before the switch-off
        thr = tl.where(pix < switch_pix, NONE, tl.where(pix == switch_pix, switch_step, 0))

    for t in range(thicksteps):
        Odet = t * thickstep
        cap_pix = tl.zeros([BLOCK], tl.float64) + (thick_on == 0).to(tl.float64)
        for sub in range(n_sub):
            Fdet = sub_size * (fpix * oversample + sub % oversample) + sub_size / 2.0
            Sdet = sub_size * (spix * oversample + sub // oversample) + sub_size / 2.0
            px = Fdet * fdx + Sdet * sdx + Odet * odx + p0x
            py = Fdet * fdy + Sdet * sdy + Odet * ody + p0y
            pz = Fdet * fdz + Sdet * sdz + Odet * odz + p0z
            if curved != 0:                        # pixel coordinates taken as angles
                vx, vy, vz = rotate_axis(distance * bmx, distance * bmy, distance * bmz,
                                         sdx, sdy, sdz, py / distance)
                px, py, pz = rotate_axis(vx, vy, vz, fdx, fdy, fdz, pz / distance)
            airpath = tl.sqrt(px * px + py * py + pz * pz)
            dx = px / airpath
            dy = py / airpath
            dz = pz / airpath
            omega = tl.where(point_pixel != 0, 1.0 / airpath / airpath,
                             pixel_size * pixel_size / airpath / airpath * close_distance / airpath)
            if thick_on != 0:                      # fraction absorbed by this layer
                parallax = dx * odx + dy * ody + dz * odz
                cap = tl.exp(-t * step_mu / parallax) - tl.exp(-(t + 1) * step_mu / parallax)
            else:
                cap = tl.full([BLOCK], 1.0, tl.float64)
            if FACTORS == FIXED:
                omega_pix = omega
                cap_pix = cap
            else:
                omega_pix = tl.where((omega_pix == 0) | (os_omega != 0), omega, omega_pix)
                cap_pix = tl.where((cap_pix == 0) | (os_thick != 0), cap, cap_pix)
            omega_sum += omega_pix
            dxw = dx.to(DT)
            dyw = dy.to(DT)
            dzw = dz.to(DT)

            for n in range(n_src):
                tsn = (t * n_sub + sub) * n_src + n
                src = src_ptr + n * SOURCE_STRIDE
                ix, iy, iz = _load3(src + S_INCIDENT)
                lam = tl.load(src + S_LAMBDA).to(DT)
                weight = tl.load(src + S_WEIGHT)
                sx = (dxw - ix.to(DT)) / lam           # scattering vector, 1/m
                sy = (dyw - iy.to(DT)) / lam
                sz = (dzw - iz.to(DT)) / lam
                stol = 0.5 * tl.sqrt(sx * sx + sy * sy + sz * sz)
                skip = (stol > 0) & (dmin > 0.5 / tl.where(stol > 0, stol, 1.0))
                Bx, By, Bz = _load3(src + S_B)
                Ex, Ey, Ez = _load3(src + S_E)
                polar = polarization(kahn, ix, iy, iz, dx, dy, dz, Bx, By, Bz, Ex, Ey, Ez)
                polar = tl.where(polarize != 0, polar, 1.0)
                if FACTORS == FIXED:
                    polar_pix = polar
                else:
                    polar_pix = tl.where(((polar_pix == 0) | (os_polar != 0)) & ~skip, polar, polar_pix)

                if MODE == MODE_FREE:
                    first = tl.where((first == NONE) & ~skip, tsn, first)
                else:
                    visit = (pix == first_pix) & (tsn == first_tsn)    # the C's first phi sweep
                    if FACTORS == C_RUNNING:
                        mult = (tl.where(os_thick != 0, cap_pix, 1.0) * tl.where(os_polar != 0, polar_pix, 1.0)
                                * tl.where(os_omega != 0, omega_pix, 1.0))
                    part = tl.zeros([BLOCK], DT)

                    for m in range(n_orient):
                        step = tsn * n_orient + m
                        ax, ay, az = _cell_vector(A_ptr + m * 9, A_first_ptr + m * 9, visit, HAS_FIRST)
                        bx, by, bz = _cell_vector(A_ptr + m * 9 + 3, A_first_ptr + m * 9 + 3, visit, HAS_FIRST)
                        cx, cy, cz = _cell_vector(A_ptr + m * 9 + 6, A_first_ptr + m * 9 + 6, visit, HAS_FIRST)
                        # fractional Miller indices and their offsets from the nearest node
                        h = sx * ax + sy * ay + sz * az
                        k = sx * bx + sy * by + sz * bz
                        l = sx * cx + sy * cy + sz * cz
                        h0 = tl.ceil(h - 0.5)
                        k0 = tl.ceil(k - 0.5)
                        l0 = tl.ceil(l - 0.5)
                        dh = h - h0
                        dk = k - k0
                        dl = l - l0

                        Fl2 = f_latt_sqr(dh, dk, dl, Na, Nb, Nc, fudge, r00.to(DT), r01.to(DT),
                                         r02.to(DT), r10.to(DT), r11.to(DT), r12.to(DT), r20.to(DT),
                                         r21.to(DT), r22.to(DT), SHAPE, FACTORS != FIXED)
                        valid = ~skip & ((Fl2 != 0) | (water_on != 0))

                        if MODE == MODE_PROBE:
                            bad = out_of_range(h, k, l, h_min, k_min, l_min, h_range, k_range, l_range)
                            first = tl.minimum(first, tl.where(valid & bad, step, NONE))
                        else:
                            # structure factor: nearest node, or tricubic where the C interpolates
                            F_cell = nearest_F(F_ptr, h0.to(tl.int32), k0.to(tl.int32), l0.to(tl.int32),
                                               h_min, k_min, l_min, h_range, k_range, l_range, default_F)
                            if INTERP:
                                if FACTORS == FIXED:
                                    tri = ~out_of_range(h, k, l, h_min, k_min, l_min, h_range, k_range, l_range)
                                else:
                                    tri = step < thr
                                F_tri = tricubic_F(F_ptr, h, k, l, h_min, k_min, l_min,
                                                   h_range, k_range, l_range, tri & valid)
                                F_cell = tl.where(tri, F_tri, F_cell)
                            x = F_cell * F_cell * Fl2
                            if FACTORS == C_RUNNING:       # I += x; I *= factors (valid steps only)
                                I = tl.where(valid, (I + x.to(tl.float64) * weight) * mult, I)
                            else:
                                part += tl.where(valid, x, 0.0)

                    if MODE == MODE_RENDER:
                        if FACTORS == C_FIRST:
                            I += part.to(tl.float64) * weight
                        elif FACTORS == FIXED:
                            g = cap_pix * omega_pix * polar_pix
                            I += part.to(tl.float64) * weight * g
                            water_g += g * weight

    if MODE == MODE_RENDER:
        if FACTORS == FIXED:
            I = I + tl.load(par_ptr + P_WATER) * water_g
        else:                                      # factors not applied in the sum: last values
            I = I * tl.where(os_thick != 0, 1.0, cap_pix)
            I = I * tl.where(os_polar != 0, 1.0, polar_pix)
            I = I * tl.where(os_omega != 0, 1.0, omega_pix)
        tl.store(out_ptr + lane, I, mask=live)
        tl.store(omega_ptr + lane, omega_sum, mask=live)
    else:
        tl.store(first_ptr + lane, first, mask=live)


# ---- launch configuration shared by the launcher and the AOT build ----
GPU_BLOCK = 128                 # pixels per program on a GPU: one per thread with 4 warps
GPU_WARPS = 4
GPU_MAXNREG = 255               # explicit .maxnreg: without it ptxas trades spills for occupancy


def _variant(mode, shape, factors=C_FIRST, interp=False, first=False) -> dict:
    return dict(MODE=mode.value, SHAPE=shape.value, FACTORS=factors.value, INTERP=interp, HAS_FIRST=first)


VARIANTS = {                    # every value of every compile-time flag, and the heaviest mix
    "free": _variant(MODE_FREE, SQUARE),
    "probe_first": _variant(MODE_PROBE, SQUARE, interp=True, first=True),
    **{name: _variant(MODE_RENDER, tl.constexpr(i)) for i, name in enumerate(SHAPE_NAMES)},
    "square_first": _variant(MODE_RENDER, SQUARE, first=True),
    "square_running": _variant(MODE_RENDER, SQUARE, C_RUNNING),
    "square_fixed": _variant(MODE_RENDER, SQUARE, FIXED),
    "square_tricubic": _variant(MODE_RENDER, SQUARE, interp=True),
    "gauss_tricubic_fixed": _variant(MODE_RENDER, GAUSS, FIXED, interp=True),
    "heaviest": _variant(MODE_RENDER, GAUSS, C_RUNNING, interp=True, first=True),
}
_POINTERS = {"out_ptr": "*fp64", "omega_ptr": "*fp64", "first_ptr": "*i32", "pix_ptr": "*i32",
             "par_ptr": "*fp64", "src_ptr": "*fp64"}


def kernel_signature(kernel, dtype: str, pointers: dict | None = None) -> dict:
    """Triton signature of `kernel` for working dtype 'float32' or 'float64': pointers in the
    working dtype unless named in `pointers`, other arguments i32, constexprs as such."""
    work = {"float32": "*fp32", "float64": "*fp64"}[dtype]
    out = {}
    for p in kernel.params:
        if p.is_constexpr:
            out[p.name] = "constexpr"
        elif p.name.endswith("_ptr"):
            out[p.name] = (pointers or {}).get(p.name, work)
        else:
            out[p.name] = "i32"
    return out


def signature(dtype: str) -> dict:
    """Triton signature of `accumulate_kernel` for working dtype 'float32' or 'float64'."""
    return kernel_signature(accumulate_kernel, dtype, _POINTERS)
