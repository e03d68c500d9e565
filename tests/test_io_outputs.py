"""Readers, writers and output conversions against the C golden data (tests/golden)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from nanobrag_torch.crandom import CRandom
from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import atomic_write
from nanobrag_torch.io.hkl import HKLTable, read_fdump, read_hkl, write_fdump
from nanobrag_torch.io.matrix import read_mat
from nanobrag_torch.io.pgm import pgm_header, write_pgm
from nanobrag_torch.io.raw import write_floatfile, write_npy
from nanobrag_torch.io.smv import format_smv_header, read_smv, smv_fields, write_smv
from nanobrag_torch.io.sources import read_sources
from nanobrag_torch import noise
from nanobrag_torch.noise import (auto_int_scale, auto_pgm_scale, image_stats, int_image,
                                  noise_image, pgm_image)

GOLDEN = Path(__file__).parent / "golden"
INPUTS = GOLDEN / "inputs"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
CASES = {case["name"]: case for case in MANIFEST["cases"]}


def _cases_with(key: str) -> list[str]:
    return [name for name, case in CASES.items() if key in case["arrays"] or key in case]


def _arg(case: dict, flag: str, count: int = 1):
    args = case["args"]
    if flag not in args:
        return None
    i = args.index(flag)
    values = args[i + 1: i + 1 + count]
    return values[0] if count == 1 else values


def _render_settings(case: dict):
    """(float image, roi, mask, stats) as the C run saw them."""
    image = np.load(GOLDEN / case["file"])["floatimage"]
    roi = _arg(case, "-roi", 4)
    roi = tuple(int(v) for v in roi) if roi else None
    mask_file = _arg(case, "-mask")
    mask = read_smv(GOLDEN / mask_file).data if mask_file else None
    return image, roi, mask, image_stats(image, roi, mask)


def _int_scale(case: dict, max_I: float) -> float:
    scale = _arg(case, "-scale")
    return float(scale) if scale is not None and float(scale) > 0 else auto_int_scale(max_I)


def _adc(case: dict) -> float:
    adc = _arg(case, "-adc")
    return 40.0 if adc is None else float(adc)


# ---------------------------------------------------------------- output conversions


@pytest.fixture(params=["numpy", "compiled"])
def both_forms(request, monkeypatch):
    """Run the test with `image_stats` / `int_image` in their numpy form and in their
    compiled form (`noise.compiled_outputs`)."""
    monkeypatch.setattr(noise, "compiled_outputs", lambda: request.param == "compiled")
    return request.param


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("exact", [True, False], ids=["exact", "printed"])
@pytest.mark.usefixtures("both_forms")
def test_image_stats_match_c_printout(name, exact):
    """The C's printed statistics, from the sequential sums or (``exact`` False, no mask)
    from `printed_stats`' bounded vectorised sums."""
    case = CASES[name]
    image, roi, mask, _ = _render_settings(case)
    max_I, _, mean, rms, rmsd = image_stats(image, roi, mask, exact)
    printed = case["c_printed"]
    assert "mean= %g rms= %g rmsd= %g" % (mean, rms, rmsd) == printed["mean_rms"]
    assert "%g" % max_I == printed["max_I"].split()[0]


@pytest.mark.usefixtures("both_forms")
def test_image_stats_argmax_and_sequential_sums():
    case = CASES["noisefile_seed"]
    image, _, _, (max_I, argmax, mean, rms, _) = _render_settings(case)
    assert list(argmax) == case["c_summary"]["argmax_slow_fast"]
    assert max_I == case["c_summary"]["max"]
    total = squares = 0.0
    for value in image.ravel().tolist():
        total += value
        squares += float(np.float32(value) * np.float32(value))
    assert mean == total / image.size
    assert rms == math.sqrt(squares / (image.size - 1))


@pytest.mark.parametrize("name", _cases_with("intimage"))
@pytest.mark.usefixtures("both_forms")
def test_int_image_matches_golden(name):
    case = CASES[name]
    image, roi, _, (max_I, *_rest) = _render_settings(case)
    scale = _int_scale(case, max_I)
    if "intfile_scale" in case["c_printed"]:
        assert "%g" % scale == case["c_printed"]["intfile_scale"]
    ours = int_image(image, scale, _adc(case), roi)
    golden = np.load(GOLDEN / case["file"])["intimage"]
    assert ours.dtype == np.uint16 and ours.shape == golden.shape
    np.testing.assert_array_equal(ours, golden)
    assert int(ours.sum(dtype=np.int64)) == case["c_summary"]["int_sum"]


@pytest.mark.parametrize("name", _cases_with("pgm"))
@pytest.mark.usefixtures("both_forms")
def test_pgm_image_matches_golden(name):
    case = CASES[name]
    image, roi, _, (max_I, _, _, _, rmsd) = _render_settings(case)
    scale = _arg(case, "-pgmscale")
    scale = float(scale) if scale is not None and float(scale) > 0 else auto_pgm_scale(
        rmsd, _int_scale(case, max_I))
    ours = pgm_image(image, scale, roi)
    golden = np.load(GOLDEN / case["file"])["pgm"]
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, golden)
    header = pgm_header(image.shape[1], image.shape[0], scale).decode("ascii")
    assert header.split("\n")[2] == case["pgm_header_comment"]


@pytest.mark.parametrize("name", _cases_with("noiseimage"))
def test_noise_image_matches_golden(name):
    case = CASES[name]
    image, roi, _, _ = _render_settings(case)
    seed = -int(_arg(case, "-seed"))  # the C stores the negated value
    ours, photons, overloads = noise_image(image, seed, _adc(case), roi)
    golden = np.load(GOLDEN / case["file"])["noiseimage"]
    np.testing.assert_array_equal(ours, golden)
    assert int(ours.sum(dtype=np.int64)) == case["c_summary"]["noise_sum"]
    assert (f"{photons:.0f} photons on noise image ({overloads} overloads)"
            == case["c_printed"]["noise_photons"])


def test_compiled_outputs_give_the_same_bits(monkeypatch):
    """`image_stats` and `int_image` in their compiled form equal the numpy form bit for bit
    (sequential sums in the same order, the same roundings), NaN, infinities, negatives, a
    ROI and a mask included."""
    rng = np.random.default_rng(5)
    image = (rng.standard_exponential((67, 129)) ** 3 * 50).astype(np.float32)
    image[3, 4], image[10, 0], image[20, 7], image[30, 30] = np.nan, np.inf, -7.25, -np.inf
    image[40, 5] = image.max()                                # a tie: the first one counts
    mask = (rng.random(image.shape) > 0.1).astype(np.uint16)
    for roi, m in ((None, None), ((3, 100, 2, 60), None), ((3, 100, 2, 60), mask), (None, mask)):
        forms = []
        for compiled in (False, True):
            monkeypatch.setattr(noise, "compiled_outputs", lambda: compiled)
            forms.append((image_stats(image, roi, m), int_image(image, 3.7, 40.0, roi)))
        (stats_np, ints_np), (stats_c, ints_c) = forms
        assert stats_np[:2] == stats_c[:2]
        assert [float(x).hex() for x in stats_np[2:]] == [float(x).hex() for x in stats_c[2:]]
        np.testing.assert_array_equal(ints_np, ints_c)
    finite = np.where(np.isfinite(image), image, 1.0).astype(np.float32)
    monkeypatch.setattr(noise, "compiled_outputs", lambda: True)
    compiled = image_stats(finite)
    monkeypatch.setattr(noise, "compiled_outputs", lambda: False)
    assert [float(x).hex() for x in compiled[2:]] == [float(x).hex() for x in image_stats(finite)[2:]]


@pytest.mark.usefixtures("both_forms")
def test_roi_and_c_cast_edge_cases():
    image = np.array([[1.0, -1.5, np.nan, 1e30], [2.0, 3.0, 4.0, 5.0]], dtype=np.float32)
    # gcc x86-64: (unsigned char)(-1.5) == 255, NaN -> 0; clipping happens before the cast.
    np.testing.assert_array_equal(pgm_image(image, 1.0), [[1, 255, 0, 255], [2, 3, 4, 5]])
    np.testing.assert_array_equal(int_image(image, 1.0, 0.0), [[1, 0, 0, 65535], [2, 3, 4, 5]])
    # test + 0.5 is rounded to float32 before floorf: 100.49999999 + 0.5 -> 101.0f -> 101.
    one = np.ones((1, 1), np.float32)
    assert int_image(one, 100.49999999, 0.0)[0, 0] == 101
    assert int_image(one, 100.4, 0.0)[0, 0] == 100
    roi = (1, 2, 1, 1)  # x 1..2, y 1..1 inclusive
    np.testing.assert_array_equal(int_image(image, 1.0, 0.0, roi), [[0, 0, 0, 0], [0, 3, 4, 0]])
    noisy, _, _ = noise_image(image, -1, 0.0, roi)
    assert noisy[0].tolist() == [0, 0, 0, 0] and noisy[1, 0] == 0 and noisy[1, 3] == 0


def test_noise_roi_skips_draws_and_cache_semantics():
    flat = np.full((4, 4), 30.0, dtype=np.float32)
    inner, _, _ = noise_image(flat, -5, 0.0, (1, 2, 1, 2))
    rng = CRandom(-5)
    expected = [rng.poidev(30.0) for _ in range(4)]
    assert inner[1:3, 1:3].ravel().tolist() == expected
    # A seed > 0 re-uses the shared shuffle table of an earlier stream (C statics).
    shared = CRandom(-12345678)
    shared.ran1()
    continued, _, _ = noise_image(flat, 7, 0.0, rng=shared)
    fresh, _, _ = noise_image(flat, 7, 0.0)
    assert not np.array_equal(continued, fresh)


def test_ran1_first_values():
    # Numerical Recipes ran1 with idum=-1: the first deviate is 0.41599...
    rng = CRandom(-1)
    first = rng.ran1()
    assert abs(first - 0.415999) < 1e-6
    assert first == float(np.float32(first))


# ---------------------------------------------------------------- SMV header and files


def _fields_from_manifest(case: dict, noise: bool):
    """Rebuild smv_fields arguments from the C's printed geometry and header numbers."""
    printed = case["c_printed"]
    header = case["noisefile_header" if noise else "intfile_header"]
    geometry = re.fullmatch(r"(\S+) detsize=(\S+)x(\S+)\s+pixel=(\S+) meters .*",
                            printed["distance_detsize"])
    distance, _, detsize_s, pixel = (float(v) for v in geometry.groups())
    xbeam, ybeam = printed["Xbeam_Ybeam"].split(" Ybeam=")
    fbeam, sbeam = printed["Fbeam_Sbeam"].split(" Sbeam=")
    return dict(
        fpixels=int(header["SIZE1"]), spixels=int(header["SIZE2"]), pixel_size_m=pixel,
        distance_m=distance, lambda_m=float(printed["wave"].split()[0]),
        Xbeam_m=float(xbeam), Ybeam_m=float(ybeam), Fbeam_m=float(fbeam), Sbeam_m=float(sbeam),
        detsize_s_m=detsize_s,
        dials_origin_mm=tuple(float(v) for v in printed["dials_origin_mm"].split()),
        ORGX=float(header["XDS_ORGX"]), ORGY=float(header["XDS_ORGY"]),
        close_distance_m=float(header["CLOSE_DISTANCE"]) / 1000.0,
        phi0_deg=float(header["PHI"]), osc_deg=float(header["OSC_RANGE"]),
        twotheta_deg=float(header["TWOTHETA"]), noise=noise)


@pytest.mark.parametrize("name,noise", [(n, False) for n in _cases_with("intfile_header")]
                         + [(n, True) for n in _cases_with("noisefile_header")])
def test_smv_header_round_trip(name, noise, tmp_path):
    case = CASES[name]
    expected = case["noisefile_header" if noise else "intfile_header"]
    fields = smv_fields(**_fields_from_manifest(case, noise))
    assert fields == list(expected.items())  # same keys, order and %g strings
    header = format_smv_header(fields)
    assert len(header) == 512
    assert header.startswith(b"{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\n"
                             b"TYPE=unsigned_short;\nSIZE1=")
    text = header.decode("ascii")
    assert f"DIALS_ORIGIN={expected['DIALS_ORIGIN']}\nXDS_ORGX=" in text  # no ';'
    body, padding = text.split("}\f")
    assert text.endswith("}\f" + padding) and set(padding) == {" "}
    assert body.count(";\n") == len(expected) - 1

    golden = np.load(GOLDEN / case["file"])["noiseimage" if noise else "intimage"]
    path = tmp_path / "out.img"
    write_smv(path, golden, fields)
    raw = path.read_bytes()
    assert len(raw) == 512 + 2 * golden.size and raw[:512] == header
    back = read_smv(path)
    np.testing.assert_array_equal(back.data, golden)
    assert (back.width, back.height, back.header_bytes) == golden.shape[::-1] + (512,)
    assert back.fields == expected
    assert back.value_of("BEAM_CENTER_X") == float(expected["BEAM_CENTER_X"])


def test_smv_denzo_sign_of_zero_differs_between_blocks():
    kw = dict(fpixels=2, spixels=2, pixel_size_m=1e-4, distance_m=0.1, lambda_m=1e-10,
              Xbeam_m=0.0, Ybeam_m=0.0, Fbeam_m=-0.0, Sbeam_m=-0.0, detsize_s_m=2e-4,
              dials_origin_mm=(0.0, 0.0, -100.0), ORGX=0.0, ORGY=0.0, close_distance_m=0.1,
              phi0_deg=0.0, osc_deg=0.0, twotheta_deg=0.0)
    assert dict(smv_fields(noise=False, **kw))["DENZO_X_BEAM"] == "-0"
    assert dict(smv_fields(noise=True, **kw))["DENZO_X_BEAM"] == "0"


def test_read_smv_golden_inputs():
    header = read_smv(INPUTS / "header_96x80.img")
    assert (header.width, header.height, header.header_bytes) == (96, 80, 512)
    assert header.data.shape == (80, 96) and header.data.dtype == np.uint16
    assert header.value_of("PIXEL_SIZE") == 0.15
    assert header.value_of("BEAM_CENTER_Y") == 7.5 and header.value_of("PHI") == 5.0
    assert math.isnan(header.value_of("ORGX")) and math.isnan(header.value_of("TWOTHETA"))
    mask = read_smv(INPUTS / "mask_128.img")
    assert mask.data.shape == (128, 128)
    assert 0 < int((mask.data == 0).sum()) < mask.data.size
    assert (INPUTS / "mask_128.img").stat().st_size == 512 + 2 * 128 * 128


def test_value_of_c_semantics_and_big_endian(tmp_path):
    image = np.arange(6, dtype=np.uint16).reshape(2, 3) * 1000
    fields = [("HEADER_BYTES", "512"), ("DIM", "2"), ("BYTE_ORDER", "big_endian"),
              ("SIZE1", "3"), ("SIZE2", "2"), ("DISTANCE", "100"), ("CLOSE_DISTANCE", "90"),
              ("XDS_ORGX", "12.5mm"), ("PHI", "1"), ("PHI", "2")]
    write_smv(tmp_path / "b.img", image, fields)
    smv = read_smv(tmp_path / "b.img")
    np.testing.assert_array_equal(smv.data, image)
    assert smv.value_of("DISTANCE") == 90.0  # last occurrence is inside CLOSE_DISTANCE
    assert smv.value_of("ORGX") == 12.5 and smv.value_of("PHI") == 2.0
    assert math.isnan(smv.value_of("WAVELENGTH"))


# ---------------------------------------------------------------- other writers


def test_floatfile_pgm_npy_writers(tmp_path):
    case = CASES["pgmfile_scale"]
    image = np.load(GOLDEN / case["file"])["floatimage"]
    write_floatfile(tmp_path / "f.bin", image)
    raw = (tmp_path / "f.bin").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == case["c_summary"]["sha256_float32_le"]
    pgm = np.load(GOLDEN / case["file"])["pgm"]
    write_pgm(tmp_path / "i.pgm", pgm, 3.0)
    assert (tmp_path / "i.pgm").read_bytes() == (b"P5\n128 128\n# pixels scaled by 3\n255\n"
                                                  + pgm.tobytes())
    write_npy(tmp_path / "f.npy", image)
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), image)
    assert sorted(os.listdir(tmp_path)) == ["f.bin", "f.npy", "i.pgm"]  # no temp files left


def test_atomic_write_replaces_and_reports(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["x.bin"]
    with pytest.raises(NanoBraggError, match="nodir/x.bin"):
        atomic_write(tmp_path / "nodir" / "x.bin", b"data")


# ---------------------------------------------------------------- readers


def test_read_hkl_p1_ranges_and_values():
    path = INPUTS / "P1_pub.hkl"
    entries = [line.split() for line in path.read_text().splitlines() if line.strip()]
    hkl = np.array([[int(v) for v in e[:3]] for e in entries])
    table = read_hkl(path, 0.0)
    assert (table.h_min, table.k_min, table.l_min) == tuple(hkl.min(axis=0))
    assert (table.h_max, table.k_max, table.l_max) == tuple(hkl.max(axis=0))
    assert table.F.shape == tuple(hkl.max(axis=0) - hkl.min(axis=0) + 1)
    assert table.F.dtype == np.float64 and table.n_entries == len(entries)
    for (h, k, l), e in zip(hkl, entries):
        assert table.F[h - table.h_min, k - table.k_min, l - table.l_min] == float(e[3])


def test_read_hkl_sparse_default_fill():
    path = INPUTS / "P1_pub_sparse.hkl"
    entries = {tuple(int(v) for v in line.split()[:3])
               for line in path.read_text().splitlines() if line.strip()}
    filled = read_hkl(path, 123.0)
    unfilled = read_hkl(path, 0.0)
    missing = filled.F.size - len(entries)
    assert missing > 0
    assert int((filled.F == 123.0).sum()) == missing
    assert int((unfilled.F == 0.0).sum()) == missing


def test_read_hkl_duplicates_last_wins_and_integer_floats(tmp_path):
    path = tmp_path / "d.hkl"
    path.write_text("0 0 0 1\n\n1.0 2 -1 5\n0 0 0 2\n   \n0 0 0 3\n")
    table = read_hkl(path, 0.0)
    assert table.n_entries == 4 and table.shape == (2, 3, 2)
    assert table.F[0, 0, 1] == 3.0 and table.F[1, 2, 0] == 5.0 and table.F[0, 1, 1] == 0.0


def test_fdump_round_trip_and_layout(tmp_path):
    table = read_hkl(INPUTS / "P1_pub_sparse.hkl", 7.5)
    path = tmp_path / "Fdump.bin"
    write_fdump(path, table)
    raw = path.read_bytes()
    head = b"%d %d %d %d %d %d\n\f" % (table.h_min, table.h_max, table.k_min, table.k_max,
                                       table.l_min, table.l_max)
    hr, kr, lr = table.shape
    assert raw.startswith(head) and len(raw) == len(head) + 8 * (hr + 1) * (kr + 1) * (lr + 1)
    padded = np.frombuffer(raw[len(head):], "<f8").reshape(hr + 1, kr + 1, lr + 1)
    assert not padded[hr].any() and not padded[:, kr].any() and not padded[:, :, lr].any()
    back = read_fdump(path)
    assert isinstance(back, HKLTable)
    assert ((back.h_min, back.h_max, back.k_min, back.k_max, back.l_min, back.l_max)
            == (table.h_min, table.h_max, table.k_min, table.k_max, table.l_min, table.l_max))
    np.testing.assert_array_equal(back.F, table.F)
    assert back.n_entries == hr * kr * lr


def test_read_mat_golden():
    rows = [[float(v) for v in line.split()] for line in
            (INPUTS / "A_pub.mat").read_text().splitlines()[:3]]
    mat = read_mat(INPUTS / "A_pub.mat")
    assert mat.shape == (3, 3) and mat.dtype == np.float64
    np.testing.assert_array_equal(mat, np.array(rows).T)  # row 0 = a* = first column


def test_read_mat_uses_first_nine_numbers(tmp_path):
    path = tmp_path / "m.mat"
    path.write_text("1 2 3\n4 5 6\n7 8 10\n0 0 0\n  100 200 300 90 90 90\n")
    np.testing.assert_array_equal(read_mat(path), [[1, 4, 7], [2, 5, 8], [3, 6, 10]])
    path.write_text("1 2 3\n4 5 6\n7 8 9\n")
    with pytest.raises(NanoBraggError, match="m.mat: singular A matrix"):
        read_mat(path)


def test_read_sources_golden():
    two = read_sources(INPUTS / "two_sources.txt")
    assert two.n_sources == 2
    np.testing.assert_array_equal(two.X, [-10.0, -10.0])
    np.testing.assert_array_equal(two.weight, [1.0, 0.2])
    np.testing.assert_array_equal(two.lambda_m, [6.2e-10, 6.2e-10])
    xyz = read_sources(INPUTS / "sources_xyz_only.txt")
    assert xyz.n_sources == 3
    np.testing.assert_array_equal(xyz.Y, [0.0, 0.004, 0.0])
    np.testing.assert_array_equal(xyz.Z, [0.0, 0.0, -0.004])
    assert np.isnan(xyz.weight).all() and np.isnan(xyz.lambda_m).all()


def test_read_sources_delimiters_and_missing_columns(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes(b"1,2;3:4!5 6\n\n ,; \n-7\t8\r\n9")
    table = read_sources(path)
    assert table.n_sources == 3
    np.testing.assert_array_equal(table.X, [1, -7, 9])
    np.testing.assert_array_equal(table.lambda_m[:1], [5])
    assert np.isnan(table.Z[1:]).all() and np.isnan(table.Y[2])


# ---------------------------------------------------------------- reader errors


@pytest.mark.parametrize("reader", [lambda p: read_hkl(p, 0.0), read_mat, read_sources,
                                    read_smv, read_fdump])
def test_missing_file_errors(reader, tmp_path):
    missing = tmp_path / "nope.dat"
    with pytest.raises(NanoBraggError, match="nope.dat"):
        reader(missing)


@pytest.mark.parametrize("content,where", [
    ("1 2 3 4\nabc\n", "line 2"),
    ("1 2 3 4\n1 2 3\n", "line 2"),
    ("1 2 3 4 5\n", "line 1"),
    ("\n1.5 2 3 4\n", "line 2"),
    ("1 2 3 nan\n", "line 1"),
    ("1 2 3 inf\n", "line 1"),
    ("", "no reflections"),
    ("\n  \n", "no reflections"),
])
def test_hkl_errors(content, where, tmp_path):
    path = tmp_path / "bad.hkl"
    path.write_text(content)
    with pytest.raises(NanoBraggError, match=f"bad.hkl.*{where}"):
        read_hkl(path, 0.0)


def test_source_header_line_error(tmp_path):
    path = tmp_path / "src.txt"
    path.write_text("# X Y Z weight lambda\n-10 0 0 1 6.2e-10\n")
    with pytest.raises(NanoBraggError, match="src.txt line 1"):
        read_sources(path)
    path.write_text("\n\n")
    with pytest.raises(NanoBraggError, match="src.txt: no sources"):
        read_sources(path)


def test_short_or_bad_matrix_errors(tmp_path):
    path = tmp_path / "short.mat"
    path.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(NanoBraggError, match="short.mat.*found 6 numbers"):
        read_mat(path)
    path.write_text("1 2 3\n4 x 6\n7 8 9\n")
    with pytest.raises(NanoBraggError, match="short.mat line 2"):
        read_mat(path)


def test_non_smv_and_truncated_errors(tmp_path):
    with pytest.raises(NanoBraggError, match="P1_pub.hkl: not an SMV image"):
        read_smv(INPUTS / "P1_pub.hkl")
    cut = tmp_path / "cut.img"
    cut.write_bytes((INPUTS / "mask_128.img").read_bytes()[:4000])
    with pytest.raises(NanoBraggError, match="cut.img: truncated"):
        read_smv(cut)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"1 2 3\n\f" + b"\0" * 10)
    with pytest.raises(NanoBraggError, match="bad.bin"):
        read_fdump(bad)
