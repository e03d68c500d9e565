"""nonBragg: quirks (c and fixed, fixed checked against independent numpy), spots plus
background pipelines (two programs and one render), bad input, gradients."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from golden_util import GOLDEN, TOL, parity, passes
from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.nonbragg.api import parse, run
from nanobrag_torch.nonbragg.cli import main
from nanobrag_torch.nonbragg.outputs import int_pixels, statistics
from nanobrag_torch.nonbragg.setup import resolve
from nanobrag_torch.simulate import run as nb_run

NB = GOLDEN / "nonbragg"
MANIFEST = json.loads((NB / "manifest.json").read_text())
REL = TOL["quirks"]["independent_rel"]


def numpy_background(fpixels, spixels, pixel, distance, Xbeam, Ybeam, x, F, lam=1.0):
    """Independent model: flat detector, beam +x, fdet +z, sdet -y, pivot beam, one source,
    unpolarized, no oversampling, sorted table, F by 4-point Lagrange over rows (linear
    beyond the ends); returns sum sign(F) F^2 polar omega (unscaled) [slow, fast]."""
    f = (np.arange(fpixels) + 0.5) * pixel
    s = (np.arange(spixels) + 0.5) * pixel
    X = np.full((spixels, fpixels), distance)
    Y = Ybeam - s[:, None] + 0 * f[None, :]
    Z = f[None, :] - Xbeam + 0 * s[:, None]
    R = np.sqrt(X * X + Y * Y + Z * Z)
    d = np.stack([X, Y, Z]) / R
    stol = 0.5 * np.sqrt((d[0] - 1) ** 2 + d[1] ** 2 + d[2] ** 2) / lam
    idx = np.searchsorted(x, stol, side="right") - 1      # -1 below the table
    Fi = np.empty_like(stol)
    for pos, (i, q) in enumerate(zip(idx.ravel(), stol.ravel())):
        nodes = [j for j in range(i - 1, i + 3) if 0 <= j < x.size]
        val = 0.0
        for j in nodes:
            term = F[j]
            for m in nodes:
                if m != j:
                    term *= (q - x[m]) / (x[j] - x[m])
            val += term
        Fi.flat[pos] = val
    polar = 0.5 * (1 + d[0] ** 2)
    omega = pixel * pixel / R ** 2 * distance / R
    return np.sign(Fi) * Fi * Fi * polar * omega


def test_detpixels_ceil_c_and_fixed():
    c = resolve(parse(["-stol", "water", "-detpixels_x", "101", "-detpixels_y", "84"]))
    fixed = resolve(parse(["-stol", "water", "-detpixels_x", "101", "-detpixels_y", "84", "-quirks", "fixed"]))
    assert (c.fpixels, c.spixels) == (102, 85)          # golden detpixels_ceil_quirk
    assert (fixed.fpixels, fixed.spixels) == (101, 84)


@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_default_beam_centre(quirks):
    args = ["-stol", "unity", "-detpixels", "16", "-distance", "50", "-dtype", "float64", "-quirks", quirks]
    r = run(args)
    x, F = np.array([0.0, 0.5, 1.0, 2.0]), np.ones(4)
    pix = 1e-4
    centre = (16 * pix - pix) / 2 if quirks == "c" else 16 * pix / 2
    ycentre = (16 * pix + pix) / 2 if quirks == "c" else 16 * pix / 2
    ref = numpy_background(16, 16, pix, 0.05, centre, ycentre, x, F) * r.job.scale
    np.testing.assert_allclose(r.image.numpy(), ref, rtol=REL)
    if quirks == "fixed":
        np.testing.assert_allclose(r.image.numpy(), r.image.numpy()[::-1, ::-1], rtol=REL)


def test_unsorted_table_walk_c_and_fixed(tmp_path):
    case = next(c for c in MANIFEST["cases"] if c["name"] == "shortwater_unsorted_history")
    ref = np.load(NB / case["file"])["floatimage"]
    args = case["physics_args"] + ["-dtype", "float64"]
    args = [str(NB / a) if a.startswith("inputs/") else a for a in args]
    c_img = run(args).image.numpy()
    assert np.abs(c_img - ref).max() <= TOL["nonbragg"]["pixel_rel"] * np.abs(ref).max()
    fixed = run(args + ["-quirks", "fixed"])
    table = np.loadtxt(NB / "inputs/shortwater.stol")
    order = np.argsort(table[:, 0])
    j = fixed.job
    indep = numpy_background(j.fpixels, j.spixels, 5e-4, 0.025, j.header["Xbeam"], j.header["Ybeam"],
                             table[order, 0], table[order, 1]) * j.scale
    np.testing.assert_allclose(fixed.image.numpy(), indep, rtol=REL)
    assert np.abs(fixed.image.numpy() - c_img).max() > 1e-3 * np.abs(c_img).max()


def test_comment_lines_c_rows_fixed_skipped(tmp_path):
    table = tmp_path / "t.stol"
    table.write_text("# comment\n0.1 2\n0.2 3\n0.3 2.5\n")
    args = ["-stol", str(table), "-detpixels", "8", "-distance", "20", "-dtype", "float64"]
    c = run(args)
    fixed = run(args + ["-quirks", "fixed"])
    assert c.job.table.rows == 4 and fixed.job.table.rows == 3
    indep = numpy_background(8, 8, 1e-4, 0.02, fixed.job.header["Xbeam"], fixed.job.header["Ybeam"],
                             np.array([0.1, 0.2, 0.3]), np.array([2.0, 3.0, 2.5])) * fixed.job.scale
    np.testing.assert_allclose(fixed.image.numpy(), indep, rtol=REL)
    assert not np.allclose(c.image.numpy(), fixed.image.numpy())


def test_repeated_stol_rows_refused(tmp_path):
    table = tmp_path / "dup.stol"
    table.write_text("#a\n#b\n0 1.3\n0.002 0.5\n0.004 0.1\n")
    with pytest.raises(NanoBraggError, match="NaN pixels"):
        run(["-stol", str(table), "-detpixels", "16", "-distance", "50"])
    ok = run(["-stol", str(table), "-detpixels", "16", "-distance", "50", "-quirks", "fixed"])
    assert np.isfinite(ok.image.numpy()).all()
    table.write_text("0 1\n0 2\n0.1 3\n")
    with pytest.raises(NanoBraggError, match="repeated stol"):
        run(["-stol", str(table), "-detpixels", "8", "-quirks", "fixed"])


def test_shifted_rmsd_c_and_fixed():
    for quirks in ("c", "fixed"):
        job = resolve(parse(["-stol", "water", "-detpixels", "8", "-quirks", quirks]))
        image = np.arange(64, dtype=np.float32).reshape(8, 8) + 1
        stats = statistics(job, image)
        flat = image.ravel().astype(np.float64)
        mean = flat.mean()
        source = np.append(flat[1:], 0.0) if quirks == "c" else flat
        expect = math.sqrt(((source - mean) ** 2).sum() / 63)
        assert stats["rmsd"] == pytest.approx(expect, rel=REL)


def test_int_rounding_c_floorf_fixed_double():
    value = np.float32(0.49999997)      # + 0.5 rounds to 1.0 in float32, not in double
    for quirks, expect in (("c", 1), ("fixed", 0)):
        job = resolve(parse(["-stol", "water", "-detpixels", "2", "-adc", "0", "-quirks", quirks]))
        image = np.full((2, 2), value, dtype=np.float32)
        assert int(int_pixels(job, image, 1.0)[0, 0]) == expect


def test_header_twotheta_c_and_fixed():
    args = ["-stol", "water", "-detpixels", "64", "-distance", "70", "-twotheta", "25", "-pivot", "beam",
            "-Xbeam", "3", "-Ybeam", "9"]
    c = resolve(parse(args)).header
    case = next(x for x in MANIFEST["cases"] if x["name"] == "twotheta_pivot_beam_Xbeam")
    assert c["distance"] * 1e3 == pytest.approx(float(case["intfile_header"]["DISTANCE"]), rel=TOL["parity"]["printed_rel"])
    fixed = resolve(parse(args + ["-quirks", "fixed"])).header
    # pivot beam keeps the beam spot at (Xbeam, Ybeam) and the distance along the beam at 70 mm
    assert (fixed["distance"], fixed["Xbeam"], fixed["Ybeam"]) == pytest.approx((0.07, 3e-3, 9e-3), rel=REL)


def test_img_last_match_keys(tmp_path):
    from nanobrag_torch.io.smv import format_smv_header
    fields = [("HEADER_BYTES", "512"), ("DIM", "2"), ("BYTE_ORDER", "little_endian"),
              ("TYPE", "unsigned_short"), ("SIZE1", "8"), ("SIZE2", "8"), ("PIXEL_SIZE", "0.1"),
              ("DISTANCE", "80"), ("CLOSE_DISTANCE", "60")]
    img = tmp_path / "h.img"
    img.write_bytes(format_smv_header(fields) + np.zeros(64, "<u2").tobytes())
    c = parse(["-stol", "water", "-img", str(img)])
    fixed = parse(["-stol", "water", "-img", str(img), "-quirks", "fixed"])
    assert c.distance_m == pytest.approx(0.060, rel=REL) and fixed.distance_m == pytest.approx(0.080, rel=REL)


def test_missing_img_refused(tmp_path):
    with pytest.raises(NanoBraggError, match="cannot read"):
        parse(["-stol", "water", "-img", str(tmp_path / "none.img")])


@pytest.mark.parametrize("name", [p["name"] for p in MANIFEST["pipelines"]])
def test_pipeline_two_programs_and_one_render(name, monkeypatch):
    p = next(x for x in MANIFEST["pipelines"] if x["name"] == name)
    monkeypatch.chdir(NB)
    ref = np.load(NB / p["file"])
    spots = nb_run(p["nanobragg_args"], dtype="float64").image.numpy()
    bg = run(p["nonbragg_args"], dtype="float64").image.numpy()
    assert passes(*parity(spots + bg, ref["sum"])[:2], "float64")
    sample = {"pipeline_water_hkl": "-bg_thick 0.0001", "pipeline_water_div_disp": "-bg_thick 5e-05",
              "pipeline_air_default_F_rect": "-bg_thick 0.01 -bg_density 0.0012 -bg_MW 28.96 -bg_oversample 2"}
    table = "water" if "water" in name else "air"
    one = nb_run(p["nanobragg_args"] + ["-beamsize", "0.001", "-bg_stol", table] + sample[name].split(),
                 dtype="float64").image.numpy()
    assert passes(*parity(one, ref["sum"])[:2], "float64")
    # quirk N13: `c` adds the float32 spots and background as float_add does (the C chain's sum)
    assert one.astype(np.float32).tobytes() == ref["sum"].tobytes()


@pytest.mark.parametrize("args, match", [
    (["-stol", "nosuch.stol"], "nosuch.stol: cannot read"),
    (["-stol", "water", "-thickness", "-1"], "-thickness: must not be negative"),
    (["-stol", "water", "-density", "-2"], "-density: must not be negative"),
    (["-stol", "water", "-MW", "0"], "-MW: molecular weight must be positive"),
    (["-stol", "water", "-bogus"], "unknown flag -bogus"),
])
def test_bad_input_one_line_no_files(args, match, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(args + ["-detpixels", "8"]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, match", [("0.1 2\n", "at least two"), ("0.1 2\nfoo bar\n", "line 2"),
                                        ("", "at least two")])
def test_bad_tables(text, match, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.stol").write_text(text)
    assert main(["-stol", "t.stol", "-detpixels", "8"]) == 2
    assert match in capsys.readouterr().err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["t.stol"]


def test_missing_F_c_keeps_fixed_refuses(tmp_path):
    (tmp_path / "t.stol").write_text("0 2\n0.1\n0.2 3\n")
    args = ["-stol", str(tmp_path / "t.stol"), "-detpixels", "8"]
    assert np.isfinite(run(args).image.numpy()).all()
    with pytest.raises(NanoBraggError, match="no F value"):
        run(args + ["-quirks", "fixed"])


def test_gradcheck_thickness_density_scale_distance():
    args = ["-stol", "water", "-detpixels", "3", "-distance", "50", "-oversample", "1", "-dtype", "float64"]

    def f(thick, density, scale, distance):
        return run(args, params={"thickness": thick, "density": density, "table_scale": scale,
                                 "distance": distance}).image.sum() / 1e10
    inputs = tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.1, 1.0, 1.1, 50.0))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_one_render_background():
    args = ["-default_F", "1e-6", "-cell", "50", "50", "50", "90", "90", "90", "-N", "1", "-detpixels", "3",
            "-distance", "50", "-bg_stol", "water", "-bg_thick", "0.1", "-dtype", "float64", "-backend", "torch"]
    from nanobrag_torch.simulate import simulate

    def f(thick, density, scale):
        return simulate(args, params={"bg0_thick": thick, "bg0_density": density,
                                      "bg0_table_scale": scale}).sum() / 1e10
    inputs = tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.1, 1.0, 1.1))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("quirks, written", [("c", True), ("fixed", False)])
def test_nopgm(quirks, written, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["-stol", "unity", "-detpixels", "8", "-nopgm", "-nonoise", "-quirks", quirks]) == 0
    assert (tmp_path / "image.pgm").exists() == written


@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_stolout_median_columns(quirks, tmp_path, monkeypatch):
    import shutil
    shutil.copytree(NB / "inputs", tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    assert main(["-stol", "inputs/air.stol", "-img", "inputs/header_96x80.img", "-ignore", "0", "-ignore",
                 "65535", "-stolout", "s.txt", "-gain", "2", "-nonoise", "-quirks", quirks]) == 0
    rows = np.loadtxt(tmp_path / "s.txt")
    if quirks == "c":
        assert (rows[:, 3:5] == 0).all()
    else:
        assert (np.abs(rows[:, 3] - rows[:, 1]) <= 3 * rows[:, 2]).all() and (rows[:, 4] > 0).all()


@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_twotheta_axis_and_curved_last(quirks):
    s = parse(["-stol", "water", "-quirks", quirks, "-curved_det"])
    assert s.curved_detector == (quirks == "fixed")
    s = parse(["-stol", "water", "-twotheta_axis", "7", "0", "-1", "-quirks", quirks])
    assert (s.twotheta_rad, s.pivot) == ((7 / (180 / math.pi), "sample") if quirks == "c" else (0.0, "beam"))


@pytest.mark.parametrize("extra", [
    ["-oversample", "2", "-polar", "0.8", "-polar_vector", "0", "1", "0.2", "-roi", "2", "9", "1", "7"],
    ["-hdivrange", "20", "-hdivsteps", "3", "-dispersion", "2", "-dispsteps", "2", "-point_pixel"],
    ["-sourcefile", str(NB / "inputs" / "sources_weighted.txt"), "-nopolar", "-twotheta", "10"],
])
def test_compiled_path_equals_torch_path(extra):
    """The numba CPU path (default for these renders) against the vectorised torch path
    (forced by asking for the last-evaluation maps), both float64."""
    args = ["-stol", "water", "-detpixels", "12", "-pixel", "0.5", "-distance", "30", "-dtype", "float64", *extra]
    compiled = run(args).image.numpy()
    torch_path = run(args, keep_last=True).image.numpy()
    np.testing.assert_allclose(compiled, torch_path, rtol=REL, atol=REL * np.abs(torch_path).max())
    assert np.abs(compiled).max() > 0


def test_component_cache_follows_geometry_and_scale():
    """Cached component images are reused only for the same geometry, table and scale."""
    from nanobrag_torch.nonbragg import components
    base = ["-default_F", "1e-6", "-cell", "50", "50", "50", "90", "90", "90", "-N", "1", "-detpixels", "8",
            "-dtype", "float64", "-bg_stol", "water"]
    components._IMAGES.clear()
    first = nb_run(base + ["-distance", "50"]).image.numpy()
    again = nb_run(base + ["-distance", "50"]).image.numpy()
    moved = nb_run(base + ["-distance", "60"]).image.numpy()
    thicker = nb_run(base + ["-distance", "50", "-bg_thick", "0.2"]).image.numpy()
    scaled = nb_run(base + ["-distance", "50"], params={"bg0_table_scale": 2.0}).image.numpy()
    components._IMAGES.clear()
    fresh = nb_run(base + ["-distance", "60"]).image.numpy()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(moved, fresh)
    assert not np.allclose(first, moved)
    np.testing.assert_allclose(thicker, 2 * first, rtol=REL)
    np.testing.assert_allclose(scaled, 4 * first, rtol=REL)     # F x 2: a plain float scale is in the key


@pytest.mark.parametrize("context, change", [([], c) for c in (
    ["-distance", "61"], ["-twotheta", "3"], ["-detector_rotx", "2"], ["-pixel", "0.11"],
    ["-detpixels", "9"], ["-Xbeam", "0.5"], ["-roi", "1", "6", "0", "7"], ["-point_pixel"],
    ["-curved_det"], ["-lambda", "1.2"], ["-nopolar"], ["-polar", "0.5"],
    ["-beam_vector", "0.9999", "0.01", "0"], ["-dispersion", "10", "-dispsteps", "3"])] + [
    (["-polar", "0.5"], ["-polar_vector", "0", "0.6", "0.8"]),
    (["-curved_det"], ["-distance", "61"]),
])
def test_geometry_digest_follows_every_ingredient(context, change):
    """The digest that keys the component images (and `in_kernel`'s first-render mark) is the
    same for two renders of one command line and differs when any part of the detector, the
    sources or the polarization changes."""
    from nanobrag_torch.nonbragg.components import geometry_digest
    from nanobrag_torch.simulate import _precompute, configure
    base = ["-default_F", "1", "-cell", "50", "50", "50", "90", "90", "90", "-N", "1", "-detpixels", "8",
            "-pixel", "0.1", "-distance", "60", "-lambda", "1", *context, "-bg_stol", "water"]

    def digest(args):
        _, cfg = configure(args)
        return geometry_digest(_precompute(cfg, None, None))
    first = digest(base)
    assert first is not None and digest(base) == first
    assert digest(base[:-2] + change + base[-2:]) != first, change   # (c mode ignores a last -curved_det)


@pytest.mark.parametrize("field", ["fdet", "sdet", "pix0", "close_distance", "incident", "lambda_m",
                                   "polar_axis", "kahn", "mask", "distance", "beam", "weight"])
def test_geometry_digest_covers_every_contract_tensor(field):
    """Each tensor of the contract a component image reads (for a curved detector, with a
    mask and a Kahn factor) changes the digest when nudged alone."""
    import dataclasses
    from nanobrag_torch.contract import evolve
    from nanobrag_torch.nonbragg.components import geometry_digest
    from nanobrag_torch.simulate import _precompute, configure
    _, cfg = configure(["-default_F", "1", "-cell", "50", "50", "50", "90", "90", "90", "-N", "1", "-detpixels",
                        "8", "-distance", "60", "-polar", "0.5", "-curved_det", "-bg_stol", "water"])
    pre = _precompute(cfg, None, None)
    inp = evolve(pre.inputs, kahn=torch.as_tensor(pre.inputs.kahn, dtype=torch.float64),
                 mask=torch.ones((1, 8, 8), dtype=torch.bool))
    pre = dataclasses.replace(pre, inputs=inp)
    before = geometry_digest(pre)
    if field == "weight":
        nudged = dataclasses.replace(pre, sources=dataclasses.replace(pre.sources, weight=pre.sources.weight * 1.5))
    else:
        value = getattr(inp, field)
        value = ~value if value.dtype == torch.bool else value * 1.001 + 1e-6
        nudged = dataclasses.replace(pre, inputs=evolve(inp, **{field: value}))
    assert before is not None and geometry_digest(nudged) != before


def test_img_with_other_pixel_count_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    img = str(NB / "inputs" / "header_96x80.img")
    assert main(["-stol", "air", "-img", img, "-detpixels", "64"]) == 2
    assert "-img" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_stolout_roi_fixed(tmp_path, monkeypatch):
    """Quirk N14 fixed: with an ROI each -stolout bin averages its own pixels (the C's bin
    buffer overflow zeroes the stol 0.15 bin here: tests/test_nonbragg_differential.py); the
    pixels of a bin inside the ROI are a subset of the same ring, so its mean stays near the
    mean without an ROI, and without an ROI c and fixed agree."""
    import shutil
    diff = GOLDEN / "differential" / "nonbragg"
    shutil.copytree(diff / "inputs", tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    base = ["-stol", "inputs/coarse.stol", "-img", "inputs/in_40x32.img", "-nonoise", "-dtype", "float64"]
    tables = {}
    for name, extra in (("roi", ["-roi", "6", "33", "4", "27", "-quirks", "fixed"]),
                        ("all_fixed", ["-quirks", "fixed"]), ("all_c", [])):
        assert main(base + extra + ["-stolout", f"{name}.txt"]) == 0
        tables[name] = {row[0]: row for row in np.loadtxt(tmp_path / f"{name}.txt", ndmin=2)}
    np.testing.assert_allclose(tables["all_fixed"][0.15][[1, 2, 5]], tables["all_c"][0.15][[1, 2, 5]], rtol=1e-6)
    roi, full = tables["roi"][0.15], tables["all_fixed"][0.15]
    assert roi[5] == 196 and abs(roi[1] / full[1] - 1) < 0.1


def test_nanobragg_flags_fixed_ignored():
    """Quirk N15 fixed: nanoBragg's flags change nothing (c: -thicksteps sets the thickness and
    -oversample_polar reads the next argument, tests/test_nonbragg_differential.py)."""
    base = ["-stol", "unity", "-detpixels", "6", "-oversample", "2", "-dtype", "float64"]
    plain = run(base + ["-quirks", "fixed"]).image
    extra = ["-mosflm", "-cell", "10", "20", "30", "90", "90", "90", "-thicksteps", "3", "-oversample_polar",
             "-distance", "100", "-quirks", "fixed"]
    assert torch.equal(run(base + extra).image, plain)
    c = parse(base + extra[:-2])
    assert (c.sample_x_m, c.oversample) == (3e-3, 0)


def test_img_byte_order_fixed():
    """Quirk N16: c reads -img pixels little-endian whatever BYTE_ORDER says (as the C,
    tests/test_nonbragg_differential.py); fixed honours big_endian."""
    inputs = GOLDEN / "differential" / "nonbragg" / "inputs"
    args = ["-stol", str(inputs / "coarse.stol"), "-img", str(inputs / "in_40x32_big.img")]
    little = parse(["-stol", str(inputs / "coarse.stol"), "-img", str(inputs / "in_40x32.img")]).img_pixels
    assert np.array_equal(parse(args).img_pixels, little)
    assert np.array_equal(parse(args + ["-quirks", "fixed"]).img_pixels, little.byteswap())


def test_steep_table_float32_computes_in_float64():
    """ice.stol is too steep for a float32 stol (FLOAT32_SENSITIVITY): a float32 render is the
    float64 render rounded (as the C stores its double sums), on the compiled and torch paths;
    smooth tables keep the float32 computation."""
    from nanobrag_torch.nonbragg.components import load_table
    assert not load_table("ice", "stol", "c").float32_ok
    assert all(load_table(t, "stol", "c").float32_ok for t in ("water", "air", "shortwater", "unity"))
    args = ["-stol", "ice", "-detpixels", "24", "-pixel", "0.5", "-distance", "25", "-lambda", "0.65",
            "-oversample", "2"]
    want = run(args, dtype="float64").image.to(torch.float32)
    for keep_last in (False, True):
        got = run(args, dtype="float32", keep_last=keep_last).image
        assert got.dtype == torch.float32 and torch.equal(got, want)
