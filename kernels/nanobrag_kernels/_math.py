"""Device helpers of the accumulation kernel: lattice factors, polarization, F lookups.

Every function works element-wise on [BLOCK] tensors (one value per pixel of the tile)
in the dtype of its inputs, so the same code serves the float32 and float64 kernels.
Miller indices are dimensionless; angles are radians.  The torch twins in
``nanobrag_torch.physics`` carry the same names (`sincg_abs`, `sinc3_pi`, `f_latt_sqr`,
`rotate_axis`, `polarization`, `nearest_F`, `out_of_range`, `tricubic_F`) and are checked
against these pair by pair (tests/triton_interp/test_pairs.py).
"""
import triton
import triton.language as tl

PI = tl.constexpr(3.141592653589793)
INV_PI = tl.constexpr(0.3183098861837907)
SHAPE_NAMES = ("square", "round", "gauss", "tophat")                 # the SHAPE flag's values, in order
SQUARE, ROUND, GAUSS, TOPHAT = (tl.constexpr(i) for i in range(len(SHAPE_NAMES)))
ROUND_VOLUME_CORRECTION = tl.constexpr(0.723601254558268)
GAUSS_WIDTH = tl.constexpr(0.63)
TOPHAT_RADIUS_SQR = tl.constexpr(0.3969)


@triton.jit
def sincospi(r):
    """(sin(pi r), cos(pi r)) for any r, without libdevice's trig functions.

    r is reduced exactly to f = r - n/2 with |f| <= 1/4 (n the nearest integer to 2r,
    giving the quadrant), then sin and cos of x = pi f come from their Taylor series:
    through x^15 / x^16 in float64 and x^9 / x^10 in float32, both below half an ulp on
    |x| <= pi/4.  Written out so the GPU code has no slow-path call (whose ABI forced
    register spills) and the interpreter runs the very arithmetic the GPU does."""
    n = tl.floor(r * 2.0 + 0.5)
    x = (r - n * 0.5) * PI
    x2 = x * x
    if r.dtype == tl.float64:
        s = x2 * -7.647163731819816e-13 + 1.6059043836821613e-10
        s = s * x2 - 2.505210838544172e-08
        s = s * x2 + 2.7557319223985893e-06
        s = s * x2 - 0.0001984126984126984
        s = s * x2 + 0.008333333333333333
        s = s * x2 - 0.16666666666666666
        c = x2 * 4.779477332387385e-14 - 1.1470745597729725e-11
        c = c * x2 + 2.08767569878681e-09
        c = c * x2 - 2.755731922398589e-07
        c = c * x2 + 2.48015873015873e-05
        c = c * x2 - 0.001388888888888889
        c = c * x2 + 0.041666666666666664
    else:
        s = x2 * 2.7557319223985893e-06 - 0.0001984126984126984
        s = s * x2 + 0.008333333333333333
        s = s * x2 - 0.16666666666666666
        c = x2 * -2.755731922398589e-07 + 2.48015873015873e-05
        c = c * x2 - 0.001388888888888889
        c = c * x2 + 0.041666666666666664
    s = x + x * x2 * s
    c = 1.0 + x2 * (c * x2 - 0.5)
    q = n.to(tl.int32) & 3
    sin = tl.where(q == 0, s, tl.where(q == 1, c, tl.where(q == 2, -s, -c)))
    cos = tl.where(q == 0, c, tl.where(q == 1, -s, tl.where(q == 2, -c, s)))
    return sin, cos


@triton.jit
def sinpi(r):
    """sin(pi r) (see `sincospi`)."""
    s, _ = sincospi(r)
    return s


@triton.jit
def sincg_abs(delta, N):
    """|sin(N pi delta) / sin(pi delta)| (the C's sincg(pi h, N) up to sign) for the
    reduced index delta = h - round(h) in [-0.5, 0.5]; N where sin(pi delta) = 0.

    Taking the sines of the reduced index instead of h keeps float32 accurate near
    Bragg peaks: the sign (-1)^((N-1) round(h)) is all that is lost, and only |F_latt|^2
    enters the intensity."""
    den = sinpi(delta)
    safe = tl.where(den == 0, 1.0, den)
    return tl.abs(tl.where(den == 0, N, sinpi(delta * N) / safe))


@triton.jit
def sinc3_pi(y, C_FORMULA: tl.constexpr):
    """sinc3(x) = 3 (sin x / x - cos x) / x^2 at x = pi y (y >= 0), 1 at 0.

    Below x = 0.05 (float64) or 1 (float32) the difference loses most of its digits, so
    there the series 1 - x^2/10 + x^4/280 - x^6/15120 + x^8/1330560 is used instead
    (truncation below 1e-16 and 6e-9 respectively).  C_FORMULA (quirk 11, float64): the
    formula for every x != 0, as the C; it is exactly 0 once sin x / x and cos x round to 1
    (a sub-pixel on the direct beam)."""
    x = y * PI
    x2 = x * x
    s, c = sincospi(y)
    safe = tl.where(x == 0, 1.0, x)
    direct = 3.0 * (s / safe - c) / (safe * safe)
    series = 1.0 + x2 * (-0.1 + x2 * (0.0035714285714285713 + x2 * (-6.613756613756614e-05
                                                                    + x2 * 7.515632515632516e-07)))
    if y.dtype == tl.float64:
        if C_FORMULA:
            small = x == 0
        else:
            small = x < 0.05
    else:
        small = x < 1.0
    return tl.where(small, series, direct)


@triton.jit
def f_latt_sqr(dh, dk, dl, Na, Nb, Nc, fudge, r00, r01, r02, r10, r11, r12, r20, r21, r22,
               SHAPE: tl.constexpr, C_SINC3: tl.constexpr):
    """F_latt^2 of crystal shape SHAPE at offsets (dh, dk, dl) = hkl - round(hkl) from the
    nearest node; N cells along a, b, c; r.. the unrotated reciprocal rows a*, b*, c* (1/A,
    gauss and tophat only); C_SINC3: the round crystal's sinc3 by the C's formula (`sinc3_pi`).
    Everything in the dtype of dh."""
    if SHAPE == SQUARE:
        F_latt = sincg_abs(dh, Na) * sincg_abs(dk, Nb) * sincg_abs(dl, Nc)
    else:
        prod_N = Na * Nb * Nc
        if SHAPE == ROUND:
            hrad_sqr = dh * dh * (Na * Na) + dk * dk * (Nb * Nb) + dl * dl * (Nc * Nc)
            F_latt = prod_N * ROUND_VOLUME_CORRECTION * sinc3_pi(tl.sqrt(hrad_sqr * fudge), C_SINC3)
        else:
            rx = dh * r00 + dk * r10 + dl * r20
            ry = dh * r01 + dk * r11 + dl * r21
            rz = dh * r02 + dk * r12 + dl * r22
            rad_star_sqr = (rx * rx + ry * ry + rz * rz) * (prod_N * prod_N)
            if SHAPE == GAUSS:
                F_latt = prod_N * tl.exp(-(rad_star_sqr / GAUSS_WIDTH * fudge))
            else:
                F_latt = tl.where(rad_star_sqr * fudge < TOPHAT_RADIUS_SQR, prod_N, 0.0)
    return F_latt * F_latt


@triton.jit
def rotate_axis(vx, vy, vz, ax, ay, az, phi):
    """The C's rotate_axis: Rodrigues rotation of v about the unit vector a by phi (rad)."""
    s, c = sincospi(phi * INV_PI)
    d = (ax * vx + ay * vy + az * vz) * (1.0 - c)
    return (ax * d + vx * c + (-az * vy + ay * vz) * s,
            ay * d + vy * c + (az * vx - ax * vz) * s,
            az * d + vz * c + (-ay * vx + ax * vy) * s)


@triton.jit
def polarization(kahn, ix, iy, iz, dx, dy, dz, bx, by, bz, ex, ey, ez):
    """The C's polarization_factor for incident i and diffracted d (unit vectors).

    b and e are the unit vectors B_in = axis x i and E_in = i x B_in of the source.
    cos(2 psi), psi the azimuth of d about i measured from E_in, is formed from the two
    projections directly (no atan2): (E^2 - B^2) / (E^2 + B^2), 1 when both vanish."""
    cos2t = ix * dx + iy * dy + iz * dz
    cos2t_sqr = cos2t * cos2t
    sin2t_sqr = 1.0 - cos2t_sqr
    E = dx * ex + dy * ey + dz * ez
    B = dx * bx + dy * by + dz * bz
    r2 = E * E + B * B
    cos2psi = tl.where(r2 == 0, 1.0, (E * E - B * B) / tl.where(r2 == 0, 1.0, r2))
    return 0.5 * (1.0 + cos2t_sqr - kahn * cos2psi * sin2t_sqr)


@triton.jit
def nearest_F(F_ptr, h0, k0, l0, h_min, k_min, l_min, h_range, k_range, l_range, default_F):
    """|F| of reflection (h0, k0, l0) (int32), default_F outside the table."""
    inside = ((h0 >= h_min) & (h0 < h_min + h_range) & (k0 >= k_min) & (k0 < k_min + k_range)
              & (l0 >= l_min) & (l0 < l_min + l_range))
    idx = ((h0 - h_min) * k_range + (k0 - k_min)) * l_range + (l0 - l_min)
    idx = tl.where(inside, idx, 0)
    F = tl.load(F_ptr + idx, mask=inside, other=0.0)
    return tl.where(inside, F, default_F)


@triton.jit
def out_of_range(h, k, l, h_min, k_min, l_min, h_range, k_range, l_range):
    """The C's interpolation guard: True where the 4-point stencil leaves the table."""
    return (((h - h_min + 3) > h_range) | (h - 2 < h_min) | ((k - k_min + 3) > k_range)
            | (k - 2 < k_min) | ((l - l_min + 3) > l_range) | (l - 2 < l_min))


@triton.jit
def _lagrange(t, NODE: tl.constexpr):
    """Weight of stencil node NODE (-1, 0, 1, 2 for NODE = 0..3) at offset t in [0, 1)."""
    if NODE == 0:
        w = -t * (t - 1) * (t - 2) / 6.0
    elif NODE == 1:
        w = (t + 1) * (t - 1) * (t - 2) / 2.0
    elif NODE == 2:
        w = -(t + 1) * t * (t - 2) / 2.0
    else:
        w = (t + 1) * t * (t - 1) / 6.0
    return w


@triton.jit
def _node(base, NODE: tl.constexpr, lo, n):
    """Table row of stencil node NODE around floor index `base`, clamped into [0, n)."""
    return tl.minimum(tl.maximum(base + (NODE - 1) - lo, 0), n - 1)


@triton.jit
def tricubic_F(F_ptr, h, k, l, h_min, k_min, l_min, h_range, k_range, l_range, mask):
    """Tricubic (4x4x4 Lagrange, the C's polin3) |F| at fractional (h, k, l).

    Only lanes in `mask` read the table (64 gathers each); rows are clamped into the
    table, so the value is meaningful only where `out_of_range` is False."""
    hf = tl.floor(h)
    kf = tl.floor(k)
    lf = tl.floor(l)
    th = h - hf
    tk = k - kf
    tq = l - lf
    hb = hf.to(tl.int32)
    kb = kf.to(tl.int32)
    lb = lf.to(tl.int32)
    acc = tl.zeros_like(h)
    for a in tl.static_range(4):
        wa = _lagrange(th, a)
        ia = _node(hb, a, h_min, h_range)
        for b in tl.static_range(4):
            wab = wa * _lagrange(tk, b)
            row = (ia * k_range + _node(kb, b, k_min, k_range)) * l_range
            for c in tl.static_range(4):
                F = tl.load(F_ptr + row + _node(lb, c, l_min, l_range), mask=mask, other=0.0)
                acc = acc + wab * _lagrange(tq, c) * F
    return acc
