"""Every quirk of specs/quirks.md: its ``c`` behaviour (as nanoBragg.c) and its ``fixed``
behaviour, the latter checked against an independent computation (tests/reference_model.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from golden_util import GOLDEN, TOL, cases, in_golden_dir, parity, passes
from cli_util import run_cli
from nanobrag_torch import NanoBraggError, run, simulate
from nanobrag_torch.io.smv import read_smv
from reference_model import model

REL = TOL["quirks"]["independent_rel"]
BASE = "-cell 50 60 70 90 90 90 -default_F 100 -N 3 -lambda 1.5 -distance 80 -detpixels 8 -pixel 0.5 -oversample 1".split()


def sim(args, quirks, **kw):
    with in_golden_dir():
        return simulate(["-quirks", quirks] + list(args), dtype="float64", **kw).numpy()


def close(ours, ref, rel=REL):
    np.testing.assert_allclose(ours, ref, rtol=rel, atol=rel * np.abs(ref).max())


def golden(name):
    case = next(c for c in cases() if c["name"] == name)
    return case["physics_args"], np.load(GOLDEN / case["file"])["floatimage"]


def ref_kwargs(**extra):
    kw = dict(cell_A=(50, 60, 70), N=(3, 3, 3), lam_A=1.5, distance_mm=80, pixels=8, pixel_mm=0.5,
              default_F=100.0)
    kw.update(extra)
    return kw


# --- source weights -------------------------------------------------------------------

def _sourcefile(tmp_path, rows):
    path = tmp_path / "src.txt"
    path.write_text("".join(" ".join(str(x) for x in r) + "\n" for r in rows))
    return str(path)


def test_weights_c_ignored(tmp_path):
    a = _sourcefile(tmp_path, [(-10, 0, 0, 1.0, 1.5e-10), (-10, 0.01, 0, 0.2, 1.5e-10)])
    b = _sourcefile(tmp_path / ".." / tmp_path.name, [(-10, 0, 0, 1.0, 1.5e-10), (-10, 0.01, 0, 1.0, 1.5e-10)])
    assert np.array_equal(sim(BASE + ["-sourcefile", a], "c"), sim(BASE + ["-sourcefile", b], "c"))


def test_weights_c_golden():
    args, ref = golden("sourcefile_two_weighted")
    corr, ratio, _ = parity(sim(args, "c"), ref)
    assert passes(corr, ratio, "float64")


def test_weights_equal_give_same_image_in_both_modes(tmp_path):
    # same direction, two wavelengths: polarization is the same for both sources, so the
    # only difference between the modes would be the weighting
    f = _sourcefile(tmp_path, [(-10, 0, 0, 0.5, 1.5e-10), (-10, 0, 0, 0.5, 1.4e-10)])
    close(sim(BASE + ["-sourcefile", f], "fixed"), sim(BASE + ["-sourcefile", f], "c"), 1e-12)


def test_weights_fixed_is_weighted_mean(tmp_path):
    rows = [(-10, 0, 0, 1.0, 1.5e-10), (-10, 0.02, 0, 0.2, 1.4e-10)]
    both = sim(BASE + ["-sourcefile", _sourcefile(tmp_path, rows)], "fixed")
    singles = []
    for i, r in enumerate(rows):
        d = tmp_path / f"s{i}"
        d.mkdir()
        singles.append(sim(BASE + ["-sourcefile", _sourcefile(d, [r])], "fixed"))
    close(both, (1.0 * singles[0] + 0.2 * singles[1]) / 1.2, 1e-12)
    srcs = [(np.array(r[:3], float), r[3], r[4]) for r in rows]
    close(both, model(**ref_kwargs(sources=srcs)))


def test_weights_fixed_with_interpolation(tmp_path):
    """The same weighted mean when tricubic interpolation runs (the path that keeps every step)."""
    path, _, _ = _table(tmp_path)
    args = INTERP + ["-hkl", path]
    rows = [(-10, 0, 0, 1.0, 1.5e-10), (-10, 0.02, 0, 0.2, 1.4e-10)]
    both = sim(args + ["-sourcefile", _sourcefile(tmp_path, rows)], "fixed")
    singles = []
    for i, r in enumerate(rows):
        d = tmp_path / f"s{i}"
        d.mkdir()
        singles.append(sim(args + ["-sourcefile", _sourcefile(d, [r])], "fixed"))
    close(both, (1.0 * singles[0] + 0.2 * singles[1]) / 1.2, 1e-12)


@pytest.mark.parametrize("rows, problem", [
    ([(-10, 0, 0, -1.0, 1.5e-10)], "non-negative"),
    ([(-10, 0, 0, 0.0, 1.5e-10), (-10, 0, 0, 0.0, 1.5e-10)], "sum to zero"),
])
def test_weights_fixed_bad(tmp_path, rows, problem):
    with pytest.raises(NanoBraggError, match=problem):
        sim(BASE + ["-sourcefile", _sourcefile(tmp_path, rows)], "fixed")


# --- per-sub-pixel polarization / solid angle / capture fraction ----------------------

THICK = ["-detector_thick", "200", "-detector_abs", "300", "-detector_thicksteps", "3"]


def test_first_value_factors_c_golden():
    for name in ("oversample_2", "detector_abs_thicksteps", "detector_abs_default_steps"):
        args, ref = golden(name)
        assert passes(*parity(sim(args, "c"), ref)[:2], "float64"), name


def test_first_value_factors_c_uses_first_subpixel():
    """c: with -oversample 2 the factors come from the first sub-pixel only, so the image
    differs from the per-sub-pixel (fixed) one by the factor's variation across a pixel."""
    c = sim(BASE + ["-oversample", "2"], "c")
    f = sim(BASE + ["-oversample", "2"], "fixed")
    assert not np.allclose(c, f, rtol=1e-9)
    assert np.allclose(c, f, rtol=5e-2)


def test_per_subpixel_factors_fixed():
    ours = sim(BASE + ["-oversample", "2"] + THICK, "fixed")
    close(ours, model(**ref_kwargs(oversample=2, thick_um=200, layers=3, mu_per_um=300)))


# --- running-sum -oversample_omega/_polar/_thick ---------------------------------------

@pytest.mark.parametrize("name", ["oversample_2_omega", "oversample_2_polar", "oversample_2_thick",
                                  "oversample_3_thick_polar_omega"])
def test_running_sum_c_golden(name):
    args, ref = golden(name)
    assert passes(*parity(sim(args, "c"), ref)[:2], "float64")


def test_running_sum_thick_without_sensor_c_zeroes_image():
    """c: -oversample_thick with no sensor thickness multiplies every step by the capture
    formula with a zero layer (exp(0) - exp(0) = 0): nanoBragg.c renders an all-zero image
    (checked with the C program: max_I = 0); fixed: capture is 1."""
    flags = ["-oversample", "2", "-oversample_thick"]
    assert not sim(BASE + flags, "c").any()
    close(sim(BASE + flags, "fixed"), model(**ref_kwargs(oversample=2)))


def test_running_sum_fixed():
    flags = ["-oversample", "2", "-oversample_omega", "-oversample_polar", "-oversample_thick"]
    ours = sim(BASE + flags + THICK, "fixed")
    close(ours, model(**ref_kwargs(oversample=2, thick_um=200, layers=3, mu_per_um=300)))


# --- phi = 0 carry-over ----------------------------------------------------------------

PHI = ["-phi", "0", "-osc", "1", "-phisteps", "2"]


def test_phi_carry_over_c():
    """c: the phi = 0 step reuses the last step's rotation (0.5 deg), except on the very
    first visit (pixel 0,0, first sub-step), which uses the unrotated cell."""
    c = sim(BASE + PHI, "c")
    stale = sim(BASE + ["-phi", "0.5", "-osc", "0.5", "-phisteps", "1"], "c")
    fresh = sim(BASE + PHI, "fixed")
    close(c.ravel()[1:], stale.ravel()[1:], 1e-12)
    close(c[0, 0], fresh[0, 0], 1e-12)


def test_phi_carry_over_c_golden():
    args, ref = golden("osc_only_auto_steps")
    assert passes(*parity(sim(args, "c"), ref)[:2], "float64")


def test_phi_fixed():
    close(sim(BASE + PHI, "fixed"), model(**ref_kwargs(phis_deg=(0.0, 0.5))))


# --- interpolation switch-off ------------------------------------------------------------

def _table(tmp_path, lo=-3, hi=3):
    rng = np.random.default_rng(5)
    idx = np.arange(lo, hi + 1)
    F = rng.uniform(10, 200, (len(idx),) * 3)
    lines = [f"{h} {k} {l} {F[h - lo, k - lo, l - lo]:.6f}" for h in idx for k in idx for l in idx]
    path = tmp_path / "t.hkl"
    path.write_text("\n".join(lines) + "\n")
    return str(path), np.round(F, 6), (lo, lo, lo)


INTERP = "-cell 50 60 70 90 90 90 -N 2 -lambda 1.5 -distance 80 -detpixels 8 -pixel 2 -oversample 1 -interpolate".split()


def test_interpolation_switch_off_c_golden():
    args, ref = golden("hkl_interpolate_switch_off_midimage")
    assert passes(*parity(sim(args, "c"), ref)[:2], "float64")


def test_interpolation_switch_off_c_is_global(tmp_path):
    """c: after the first out-of-range step every later pixel uses nearest F, even pixels
    whose indices are in range; fixed keeps interpolating them."""
    path, F, mins = _table(tmp_path)
    c = sim(INTERP + ["-hkl", path], "c")
    f = sim(INTERP + ["-hkl", path], "fixed")
    nearest = sim(INTERP + ["-hkl", path, "-nointerpolate"], "c")
    first_bad = np.flatnonzero(~np.isclose(c.ravel(), f.ravel(), rtol=1e-12))
    assert first_bad.size and np.allclose(c.ravel()[first_bad[0] + 1:], nearest.ravel()[first_bad[0] + 1:],
                                          rtol=1e-12)
    assert not np.allclose(f.ravel()[first_bad[0] + 1:], nearest.ravel()[first_bad[0] + 1:], rtol=1e-6)


def test_interpolation_fixed(tmp_path):
    path, F, mins = _table(tmp_path)
    ours = sim(INTERP + ["-hkl", path], "fixed")
    ref = model(cell_A=(50, 60, 70), N=(2, 2, 2), lam_A=1.5, distance_mm=80, pixels=8, pixel_mm=2,
                default_F=0.0, F_table=F, table_min=mins, interpolate=True)
    close(ours, ref)


# --- water background ----------------------------------------------------------------------

def test_water_c_golden():
    args, ref = golden("water_background")
    assert passes(*parity(sim(args, "c"), ref)[:2], "float64")


def test_water_c_divided_by_steps():
    """c: the water term is divided by steps, so it changes with -oversample."""
    w = ["-water", "100", "-default_F", "0.001"]
    a, b = sim(BASE + w + ["-oversample", "1"], "c"), sim(BASE + w + ["-oversample", "2"], "c")
    assert a.mean() / b.mean() > 3.5


def test_water_c_exact_scale():
    """c: a water-only pixel is r_e^2 fluence I_bg / steps x omega in double, I_bg =
    F_w^2 r_e^2 fluence size^3 1e6 N_A / MW (nanoBragg.c 2515, scale 3033-3039; -point_pixel:
    omega = 1/R^2, -nopolar: polar = 1); the fluence must not pass through float32 (it did:
    1.8e-8 relative, enough to flip int-image pixels)."""
    args = ("-cell 50 50 50 90 90 90 -N 1 -default_F 1e-9 -lambda 1 -distance 100 -detpixels 4 "
            "-water 100 -nopolar -point_pixel").split()
    r_e2, fluence, size = 7.94079248018965e-30, 125932015286227086360700780544.0, 100 / 1e6
    I_bg = 2.57 * 2.57 * r_e2 * fluence * size * size * size * 1e6 * 6.02214179e23 / 18.0
    centre = (0.4e-3 + 0.1e-3) / 2 + 0.05e-3         # MOSFLM Fbeam = Sbeam (mm -> m)
    pos = (np.arange(4) + 0.5) * 1e-4 - centre
    R2 = 0.1 ** 2 + pos[:, None] ** 2 + pos[None, :] ** 2
    np.testing.assert_allclose(sim(args, "c"), r_e2 * fluence * I_bg / R2, rtol=1e-13)


def test_water_fixed():
    w = ["-water", "100"]
    close(sim(BASE + w + ["-oversample", "2"], "fixed"),
          model(**ref_kwargs(oversample=2, water_um=100)))


# --- -nopolar under -oversample_polar -------------------------------------------------------

def test_nopolar_oversample_polar_c_ignored():
    """c: under -oversample_polar the C recomputes polar at every step whatever -nopolar says
    (nanoBragg.c 2772-2776: `if (polar == 0.0 || oversample_polar)`), so -nopolar has no effect
    (verified with the C: equal images; golden differential case nopolar_oversample_polar)."""
    run = BASE + ["-oversample", "2", "-oversample_polar", "-polar", "0.6"]
    np.testing.assert_array_equal(sim(run + ["-nopolar"], "c"), sim(run, "c"))


def test_nopolar_oversample_polar_fixed_honoured():
    """fixed: -nopolar wins, -oversample_polar changes nothing (factors are per sub-step anyway)."""
    run = BASE + ["-oversample", "2", "-polar", "0.6", "-nopolar"]
    np.testing.assert_array_equal(sim(run + ["-oversample_polar"], "fixed"), sim(run, "fixed"))
    assert not np.allclose(sim(run, "fixed"), sim(BASE + ["-oversample", "2", "-polar", "0.6"], "fixed"))


# --- sinc3 of -round_xtal near the direct beam ----------------------------------------------

def test_sinc3_c_formula():
    """c: the C's 3 (sin x / x - cos x) / x^2 (nanoBragg.c 3298-3302), computed here with
    numpy: 0 where sin x / x and cos x round to 1, 1 only at x = 0 exactly."""
    from nanobrag_torch.physics.lattice import sinc3_pi
    x = np.array([0.0, 1e-12, 1e-9, 3e-5, 1e-3, 0.04, 0.5, 2.0])
    with np.errstate(all="ignore"):
        c = np.where(x == 0, 1.0, 3.0 * (np.sin(x) / x - np.cos(x)) / (x * x))
    ours = sinc3_pi(torch.tensor(x / np.pi, dtype=torch.float64), c_formula=True).numpy()
    assert ours[1] == ours[2] == 0.0 and ours[0] == 1.0
    np.testing.assert_allclose(ours, c, rtol=1e-9, atol=1e-12)


def test_sinc3_fixed_series():
    """fixed: the series 1 - x^2/10 + ... near 0 (no lost digits), the formula elsewhere."""
    from nanobrag_torch.physics.lattice import sinc3_pi
    mpmath = pytest.importorskip("mpmath")
    x = np.array([0.0, 1e-9, 3e-5, 1e-3, 0.04, 0.5, 2.0])
    ours = sinc3_pi(torch.tensor(x / np.pi, dtype=torch.float64)).numpy()
    with mpmath.workdps(50):
        exact = [1.0] + [float(3 * (mpmath.sin(v) - v * mpmath.cos(v)) / v ** 3) for v in map(mpmath.mpf, x[1:])]
    np.testing.assert_allclose(ours, exact, rtol=1e-13)


def test_sinc3_on_beam_c_and_fixed():
    """A sub-pixel exactly on the direct beam (golden differential case
    round_xtal_subpixel_on_beam): c drops its step (F_latt = 0), fixed counts it fully."""
    args = "-cell 42.3 64.6 37.8 90 90 90 -N 4 -default_F 209.6 -round_xtal -distance 75 -detsize 3.45".split()
    c, f = sim(args, "c"), sim(args, "fixed")
    # the dropped step: r_e^2 fluence / steps x F^2 (N^3 x 0.7236...)^2 x omega (printed 1.77778e-06 sr)
    step = 7.94079248018965e-30 * 1.25932015286227086e29 / 4 * 209.6 ** 2 * (64 * 0.723601254558268) ** 2
    assert abs((f - c)[18, 18] - step * 1.777777e-6) < 1e-4 * f[18, 18]
    mask = np.ones_like(c, dtype=bool)
    mask[18, 18] = False
    close(c[mask], f[mask], rel=1e-4)        # elsewhere only quirk 2's per-sub-pixel factors differ


# --- triclinic -cell -------------------------------------------------------------------------

TRI = "-cell 70 80 90 75 85 95 -default_F 100 -N 3 -lambda 1.5 -distance 80 -detpixels 8".split()


def test_triclinic_c_skewed():
    with in_golden_dir():
        cell = run(["-quirks", "c"] + TRI, dtype="float64").pre.crystal.cell_A_deg
    np.testing.assert_allclose(cell[3:], (75.0391, 85.0136, 95.0081), atol=1e-4)


def test_triclinic_fixed_exact():
    with in_golden_dir():
        cr = run(["-quirks", "fixed"] + TRI, dtype="float64").pre.crystal
    np.testing.assert_allclose(cr.cell_A_deg, (70, 80, 90, 75, 85, 95), rtol=1e-12)
    # independent: reciprocal and direct bases are dual (a_i . b*_j = delta_ij)
    direct = cr.a0_m.numpy() * 1e10
    np.testing.assert_allclose(direct @ cr.recip_A.numpy().T, np.eye(3), atol=1e-12)
    # and the textbook volume from the six parameters
    ca, cb, cg = np.cos(np.radians([75, 85, 95]))
    V = 70 * 80 * 90 * np.sqrt(1 - ca ** 2 - cb ** 2 - cg ** 2 + 2 * ca * cb * cg)
    assert abs(cr.volume_A3 / V - 1) < 1e-12


# --- strstr side effects -------------------------------------------------------------------

def test_misset_seed_also_sets_misset_c_only():
    base = "-cell 50 60 70 90 90 90 -default_F 100 -lambda 1.5 -distance 80 -detpixels 16".split()
    c = sim(base + ["-misset", "random", "-misset_seed", "7", "-N", "5"], "c")
    angles = sim(base + ["-misset", "7", "0", "5", "-N", "5"], "c")
    assert np.array_equal(c, angles)
    f = sim(base + ["-misset", "random", "-misset_seed", "7", "-N", "5"], "fixed")
    assert not np.allclose(f, angles)
    # numeric a, b after N are the C's angles too (then ignored as stray arguments)
    numeric = base + ["-N", "5", "-misset_seed", "7", "0", "5"]
    np.testing.assert_array_equal(sim(numeric, "c"), angles)
    with pytest.raises(NanoBraggError, match="unexpected argument '0'"):
        sim(numeric, "fixed")


def test_twotheta_axis_also_sets_twotheta_c_only():
    base = BASE + ["-twotheta_axis", "1", "0", "0"]
    assert np.array_equal(sim(base, "c"), sim(base + ["-twotheta", "1"], "c"))
    assert np.array_equal(sim(base, "fixed"), sim(base + ["-twotheta", "0"], "fixed"))


def test_curved_det_last_argument():
    flat, curved = sim(BASE, "c"), sim(["-curved_det"] + BASE, "c")
    assert np.array_equal(sim(BASE + ["-curved_det"], "c"), flat)
    assert not np.allclose(curved, flat)
    assert np.array_equal(sim(BASE + ["-curved_det"], "fixed"), sim(["-curved_det"] + BASE, "fixed"))


def test_smv_header_overrun_c_and_fixed(tmp_path):
    """Quirk 13: a header longer than 512 bytes stays under HEADER_BYTES=512 with the pixels
    right after it in c mode (the C's file: `test_nanobragg_differential` case
    smv_header_overrun, byte for byte); fixed pads it to 1024 bytes and says so."""
    manifest = json.loads((GOLDEN / "differential" / "nanobragg" / "manifest.json").read_text())
    case = next(c for c in manifest["cases"] if c["name"] == "smv_header_overrun")
    files = {}
    for mode in ("c", "fixed"):
        out = tmp_path / mode
        out.mkdir()
        status, _, err, _ = run_cli([*case["args"].split(), "-quirks", mode, "-intfile", "i.img",
                                     "-nonoise", "-nopgm", "-noprogress"], out)
        assert status == 0, err
        assert ("HEADER_BYTES=512" in err) == (mode == "c")     # the warning names the overrun
        files[mode] = (out / "i.img").read_bytes()
    pixels = 40 * 40 * 2
    c_header, fixed_header = files["c"][:-pixels], files["fixed"][:-pixels]
    assert 512 < len(c_header) < 1024 and c_header.startswith(b"{\nHEADER_BYTES=512;")
    assert c_header.endswith(b"}\f")                                     # no padding after it
    assert len(fixed_header) == 1024 and fixed_header.startswith(b"{\nHEADER_BYTES=1024;")
    frame = read_smv(tmp_path / "fixed" / "i.img")           # readable: the whole header, the pixels
    assert frame.header_bytes == 1024 and frame.fields["BEAMLINE"] == "fake"
    assert frame.data.astype("<u2").tobytes() == files["fixed"][-pixels:]
