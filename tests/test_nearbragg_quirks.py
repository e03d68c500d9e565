"""nearBragg quirks (specs/quirks.md, section nearBragg): each row's ``-quirks c`` behaviour
against the C's golden output (a small ROI of the case that shows it) and its ``fixed``
behaviour against the independent long-double model `tests/nearbragg_model.py`."""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atoms import read_atoms
from nanobrag_torch.nearbragg import simulate_near
from nanobrag_torch.nearbragg.run import int_pixels
from tests.golden_util import TOL
from tests.nearbragg_model import model

GOLDEN = Path(__file__).parent / "golden" / "nearbragg"
CASES = {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())["cases"]}
REL = TOL["nearbragg"]["independent_rel"]
ATOMS = [(0.0, 0.0, 0.0, 1.0, -90.0), (12.0, -7.0, 5.0, 0.7, -90.0), (-4.0, 9.0, -11.0, 1.3, 40.0)]
BASE = ["-detpixels", "4", "-pixel", "0.1", "-distance", "1", "-source_distance", "1", "-lambda", "1",
        "-oversample", "1"]


def c_roi(name: str, extra=()) -> None:
    """The case's float image on an 8x8 ROI at its maximum, float64, within 1e-5 of the ROI max."""
    case = CASES[name]
    ref = np.load(GOLDEN / case["file"])["floatimage"].astype(np.float64)
    s, f = case["c_summary"]["argmax_slow_fast"]
    y0, x0 = max(0, min(s - 4, ref.shape[0] - 8)), max(0, min(f - 4, ref.shape[1] - 8))
    old = os.getcwd()
    os.chdir(GOLDEN)
    try:
        run = simulate_near(case["physics_args"] + ["-roi", str(x0), str(x0 + 7), str(y0), str(y0 + 7),
                                                    "-dtype", "float64", *extra])
    finally:
        os.chdir(old)
    ours, want = run.floatimage[y0:y0 + 8, x0:x0 + 8], ref[y0:y0 + 8, x0:x0 + 8]
    assert np.abs(ours - want).max() <= 1e-5 * np.abs(want).max(), name


def fixed(tmp_path, args=(), atoms=ATOMS):
    path = tmp_path / "atoms.txt"
    path.write_text("".join("%g %g %g %g 0 %g\n" % tuple(a) for a in atoms))   # B = 0
    return simulate_near(["-file", str(path), *BASE, "-quirks", "fixed", "-dtype", "float64",
                          *args]).floatimage


def close(ours, expect):
    assert np.abs(ours - expect).max() <= REL * np.abs(expect).max()


# 1. intensity scales as 1/s2a^2 (c) / unit incident amplitude at the origin (fixed)
def test_c_source_distance_scale():
    c_roi("source_depth_auto_two_steps")


def test_fixed_source_distance_scale(tmp_path):
    close(fixed(tmp_path, ["-nopolar"]), model(ATOMS, polar=False))


# 2. no polarization (c) / unpolarised Thomson factor (fixed)
def test_c_no_polarization():
    c_roi("occ_B_phase_columns")


def test_fixed_polarization(tmp_path):
    close(fixed(tmp_path), model(ATOMS))


# 3. omega of the last sub-pixel with the nominal distance (c) / per sub-pixel (fixed)
def test_c_omega_last_subpixel():
    c_roi("oversample_3_roi")


def test_fixed_omega_per_subpixel(tmp_path):
    close(fixed(tmp_path, ["-oversample", "3"]), model(ATOMS, oversample=3))


# 4. depth planes: amplitude sum divided like an average (c) / intensity average (fixed)
def test_c_depth_planes_amplitude():
    c_roi("source_depth_steps")


def test_fixed_depth_planes_intensity(tmp_path):
    depths = [-0.15e-10, 0.0, 0.15e-10]
    close(fixed(tmp_path, ["-source_depth", "0.3", "-depthsteps", "3"]), model(ATOMS, depths=depths))


# 5. -coherent: sub-pixels interfere (c) / sub-pixels add in intensity (fixed)
def test_c_coherent_subpixels_interfere():
    c_roi("coherent_div_disp_os")


def test_fixed_coherent_subpixels(tmp_path):
    close(fixed(tmp_path, ["-coherent", "-oversample", "2", "-source_depth", "0.4"]),
          model(ATOMS, oversample=2, coherent=True, depths=[-0.2e-10, 0.2e-10]))


# 6. comment lines and a last line without newline (c) / comments skipped, strict columns (fixed)
def test_c_comment_lines_are_atoms():
    c_roi("file_format_quirks_debug")
    atoms = read_atoms(GOLDEN / "inputs" / "format_quirks.txt", "c")
    assert atoms.count == CASES["file_format_quirks_debug"]["c_printed"]["atoms"]


def test_fixed_comment_lines_skipped(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"# X Y Z occ\n\n 1 2 3\n4,5;6 0.5 10 30\n-10 20 -30")
    got = read_atoms(path, "fixed").values
    np.testing.assert_array_equal(got, [[1, 2, 3, 1, 0, -90], [4, 5, 6, 0.5, 10, 30], [-10, 20, -30, 1, 0, -90]])
    path.write_text("CA 25 -70 1.5\n")
    with pytest.raises(NanoBraggError, match="line 1: 'CA' is not a number"):
        read_atoms(path, "fixed")


# 7. -pix0_vector honoured, omega with the nominal distance (c) / with the plane's distance (fixed)
def test_c_pix0_vector_honoured():
    c_roi("pix0_vector_honoured")


def test_fixed_pix0_vector(tmp_path):
    pix0 = [0.0012, 0.0001, -0.0002]
    close(fixed(tmp_path, ["-pix0_vector", *map(str, pix0)]), model(ATOMS, pix0=pix0))


# 8. curved detector mirrored in z (c) / not mirrored (fixed)
def test_c_curved_detector_mirrored():
    c_roi("curved_det_mirror")


def test_fixed_curved_detector(tmp_path):
    close(fixed(tmp_path, ["-curved_det", "-noprogress"]), model(ATOMS, curved=True))


# 9. int file: truncation and a fixed +40 (c) / rounding, clipped at 0, -adc (fixed)
def _int_run(image, quirks, roi=(0, 10**9, 0, 10**9), scale=0.0, adc=40.0):
    run = SimpleNamespace(settings=SimpleNamespace(intfile_scale=scale, adc_offset=adc, quirks=quirks),
                          floatimage=image, setup=SimpleNamespace(roi=roi))
    return int_pixels(run, max(0.0, float(image.max())))


@pytest.mark.parametrize("name", ["few_atoms_defaults", "intfile_scale_names_phi", "oversample_3_roi"])
def test_c_int_file_truncation(name):
    case = CASES[name]
    ref = np.load(GOLDEN / case["file"])
    args = case["args"]
    roi = tuple(int(v) for v in args[args.index("-roi") + 1:][:4]) if "-roi" in args else (0, 10**9, 0, 10**9)
    scale = float(args[args.index("-scale") + 1]) if "-scale" in args else 0.0
    image = ref["floatimage"]
    inside = np.zeros(image.shape, bool)
    inside[roi[2]:roi[3] + 1, roi[0]:roi[1] + 1] = True
    run = SimpleNamespace(settings=SimpleNamespace(intfile_scale=scale, adc_offset=40.0, quirks="c"),
                          floatimage=image, setup=SimpleNamespace(roi=roi))
    ints, _ = int_pixels(run, max(0.0, float(image[inside].max())))
    np.testing.assert_array_equal(ints, ref["intimage"])


def test_fixed_int_file_rounding():
    image = np.array([[0.0, 0.26, 0.74], [1.0, -3.0, 2.5]], np.float32)
    ints, scale = _int_run(image, "fixed", scale=10.0, adc=3.0)
    expect = np.clip(np.floor(image.astype(np.float64) * 10.0 + 3.0 + 0.5), 0, 65535)
    np.testing.assert_array_equal(ints, expect.astype(np.uint16))
    c_ints, _ = _int_run(image, "c", scale=10.0, adc=3.0)
    assert c_ints[1, 1] == 65536 - 27 and c_ints[0, 2] == 10          # wrap and truncation in c


# 10. -curved_det as the last argument: ignored (c, the C needs a following argument) / honoured (fixed)
def test_curved_det_last_argument(tmp_path):
    path = tmp_path / "atoms.txt"
    path.write_text("".join("%g %g %g %g 0 %g\n" % tuple(a) for a in ATOMS))
    base = ["-file", str(path), *BASE, "-dtype", "float64"]
    flat = simulate_near(base).floatimage
    assert np.array_equal(simulate_near(base + ["-curved_det"]).floatimage, flat)
    assert not np.array_equal(simulate_near(base + ["-curved_det", "-noprogress"]).floatimage, flat)
    close(simulate_near(base + ["-nopolar", "-quirks", "fixed", "-curved_det"]).floatimage,
          model(ATOMS, curved=True, polar=False))
