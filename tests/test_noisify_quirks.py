"""noisify's quirks (specs/quirks.md, section "noisify"): `-quirks c` reproduces noisify.c,
`-quirks fixed` corrects each; fixed results are checked against independent numpy
computations. Also the bad-input errors and the differentiable API."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_util import run_cli
from golden_util import TOL

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.noisify.api import detector_response, expected_response, psf_image
from nanobrag_torch.noisify.cli import main, parse
from nanobrag_torch.noisify.psf import GAUSS, apply_psf

T = TOL["noisify"]


def _run(tmp_path: Path, args: list, image: np.ndarray) -> tuple:
    """(exit status, stderr) of noisify on ``image`` written as in.bin."""
    image.astype("<f4").tofile(tmp_path / "in.bin")
    status, _, err, _ = run_cli(["-floatfile", "in.bin", *args], tmp_path, program=main)
    return status, err


def _noise(tmp_path: Path, args: list, image: np.ndarray) -> np.ndarray:
    assert _run(tmp_path, [*args, "-nopgm"], image)[0] == 0
    return np.fromfile(tmp_path / "noiseimage.img", dtype="<u2", offset=512).astype(float)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a - a.mean(), b - b.mean())[0, 1])


def _gauss_kernel(fwhm: float, radius: int) -> np.ndarray:
    """Independent kernel: product of 1-D pixel integrals of a unit-volume Gaussian."""
    c = math.sqrt(math.log(16)) / fwhm
    edges = np.arange(-radius - 0.5, radius + 1.0)
    cdf = np.array([math.erf(e * c) for e in edges]) / 2
    oned = np.diff(cdf)
    kernel = np.outer(oned, oned)
    d = np.arange(-radius, radius + 1)
    kernel[d[:, None] ** 2 + d[None, :] ** 2 > radius * radius] = 0.0
    return kernel


def _numpy_psf(image: np.ndarray, fwhm: float, radius: int) -> np.ndarray:
    """Independent fixed-mode PSF: zero-padded convolution + the lost light added evenly."""
    kernel = _gauss_kernel(fwhm, radius)
    height, width = image.shape
    padded = np.zeros((height + 2 * radius, width + 2 * radius))
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            padded[radius + dy:radius + dy + height, radius + dx:radius + dx + width] += \
                image * kernel[radius + dy, radius + dx]
    lost = np.sum(image[image > 0]) * math.exp(-math.log(16) * (radius / fwhm) ** 2)
    return padded[radius:-radius, radius:-radius] + lost / image.size


FLAT = np.full((40, 48), 1.0e4, dtype=np.float32)


# quirk 1: the calibration pattern follows -seed


def test_calibration_pattern_c_vs_fixed(tmp_path):
    args = ["-calibration", "0.2", "-calib_seed", "7"]
    c1, c2 = (_noise(tmp_path, [*args, "-seed", s], FLAT) for s in ("1", "2"))
    f1, f2 = (_noise(tmp_path, [*args, "-seed", s, "-quirks", "fixed"], FLAT) for s in ("1", "2"))
    # static error of variance (0.2*1e4)^2 against Poisson 1e4: expected correlation 0.9975
    assert abs(_corr(c1, c2)) < 0.1
    assert _corr(f1, f2) > 0.99


# quirk 2: -calib_seed unused with -flicker
def test_calib_seed_unused_with_flicker_c_and_fixed(tmp_path):
    args = ["-flicker", "0.01", "-calibration", "0.2", "-seed", "3"]
    c1, c2 = (_noise(tmp_path, [*args, "-calib_seed", s], FLAT) for s in ("5", "6"))
    assert np.array_equal(c1, c2)
    f1, f2, f3 = (_noise(tmp_path, [*args[:-1], seed, "-calib_seed", s, "-quirks", "fixed"], FLAT)
                  for seed, s in (("3", "5"), ("3", "6"), ("4", "5")))
    assert _corr(f1, f2) < 0.1 < 0.99 < _corr(f1, f3)


# quirk 3: one NaN pixel blanks the PSF image
def test_nan_blanks_psf_c_and_fixed():
    image = np.zeros((12, 14), dtype=np.float32)
    image[5, 6], image[2, 3] = 500.0, np.nan
    c = apply_psf(image.ravel(), 14, 12, GAUSS, 1.5, 3, out=lambda *_: None)
    assert np.isnan(c).all()
    fixed = apply_psf(image.ravel(), 14, 12, GAUSS, 1.5, 3, fixed=True, out=lambda *_: None)
    expected = _numpy_psf(np.nan_to_num(image).astype(float), 1.5, 3)
    assert np.abs(fixed.reshape(12, 14) - expected).max() <= T["psf_image_rel"] * expected.max()


# quirk 4: a first mean of exactly -1.0 meets poidev's uninitialised cache
@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_minus_one_first_pixel(quirks):
    image = torch.tensor([[-1.0, -1.0, 3.0, -1.0]])
    noisy = detector_response(image, seed=9, calibration=0.0, adc=0.0, quirks=quirks)["noiseimage"]
    if quirks == "c":          # ~100 "photons" each until t underflows; the cache then changes
        assert noisy[0, 0] > 50 and noisy[0, 1] > 50 and noisy[0, 3] == 0
    else:                      # a Poisson deviate of a mean <= 0 is 0
        assert noisy[0, 0] == noisy[0, 1] == noisy[0, 3] == 0


# quirk 5: light right of the last column lands in column 0 of the next row
@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_psf_right_edge(quirks):
    image = np.zeros((10, 8), dtype=np.float32)
    image[4, 7] = 1000.0
    out = apply_psf(image.ravel(), 8, 10, GAUSS, 2.0, 3, fixed=quirks == "fixed",
                    out=lambda *_: None).reshape(10, 8)
    expected = _numpy_psf(image.astype(float), 2.0, 3)
    wrapped = np.zeros_like(expected)
    kernel = _gauss_kernel(2.0, 3)
    for dy in range(-3, 4):
        if 0 <= 4 + dy + 1 < 10:
            wrapped[4 + dy + 1, 0] = 1000.0 * kernel[3 + dy, 3 + 1]
    want = expected + wrapped if quirks == "c" else expected
    assert np.abs(out - want).max() <= T["psf_image_rel"] * want.max()


# quirk 6: tiny sources vanish with an automatic Gaussian radius
@pytest.mark.parametrize("quirks", ["c", "fixed"])
def test_tiny_sources_auto_radius(quirks):
    image = np.zeros((9, 9), dtype=np.float32)
    image[4, 4] = 0.005
    out = apply_psf(image.ravel(), 9, 9, GAUSS, 1.0, 0, fixed=quirks == "fixed",
                    out=lambda *_: None)
    if quirks == "c":
        assert not out.any()
    else:       # radius 1: the kernel's 3x3 cross plus the lost light put back
        expected = _numpy_psf(image.astype(float), 1.0, 1)
        assert np.abs(out.reshape(9, 9) - expected).max() <= T["psf_image_rel"] * expected.max()


# quirk 7: -phisteps sets the header's PHI (strstr)
@pytest.mark.parametrize("quirks, phi", [("c", 5.0), ("fixed", 10.0)])
def test_phisteps_sets_phi(quirks, phi):
    s = parse(["-floatfile", "x.bin", "-phi", "10", "-phisteps", "5", "-quirks", quirks])
    assert s.phi_deg == phi


# quirk 7 too: any other argument containing an option's text fires it (noisify.c 169-318)
def test_strstr_options_c_and_fixed():
    args = ["-floatfile", "x.bin", "--seed", "5", "-calibration_noise", "0.1", "-psf_rad", "3.7",
            "-psf_fw", "150", "-readnoi", "2", "-adc_offset", "10", "-pixel_size", "0.2",
            "-flicker_noise", "0.2", "--nonoise"]
    s = parse(args)
    assert (s.seed, s.calibration_noise, s.psf_radius, s.readout_noise, s.adc_offset) == \
        (-5, 0.1, 3.7, 2.0, 10.0)
    assert (s.psf_fwhm_m, s.pixel_m, s.flicker_noise, s.calculate_noise) == \
        (150 / 1e6, 0.2 / 1000, 0.2, False)
    assert parse(["-floatfile", "x.bin", "-x_floatimage.bin"]).floatfile == "-x_floatimage.bin"
    for bad in (["-sed", "5"], ["--seed", "5", "-quirks", "fixed"]):
        with pytest.raises(NanoBraggError, match="unknown flag"):
            parse(["-floatfile", "x.bin", *bad])


# quirk 8: a float file with fewer floats than pixels (but at least a quarter) is zero-filled
def test_short_file_c_zero_tail_fixed_error(tmp_path):
    short = np.full(100, 7.0, dtype=np.float32)
    assert _run(tmp_path, ["-detpixels", "16", "-nonoise", "-adc", "0"], short)[0] == 0
    pixels = np.fromfile(tmp_path / "intimage.img", dtype="<u2", offset=512)
    assert (pixels[:100] == 7).all() and not pixels[100:].any()
    os.remove(tmp_path / "intimage.img")
    os.remove(tmp_path / "image.pgm")
    status, err = _run(tmp_path, ["-detpixels", "16", "-nonoise", "-quirks", "fixed"], short)
    assert status == 9 and "in.bin" in err and sorted(os.listdir(tmp_path)) == ["in.bin"]


BAD = [
    (["-detpixels", "64"], np.ones(100, np.float32), "fewer than"),
    ([], np.zeros(0, np.float32), "empty float file"),
    (["-detpixels", "4"], np.array([1, 2, np.inf] + [1] * 13, np.float32), "infinite"),
    (["-detpixels", "4", "-readout", "-1"], np.ones(16, np.float32), "-readout"),
    (["-detpixels", "4", "-flicker", "-0.1"], np.ones(16, np.float32), "-flicker"),
    (["-detpixels", "4", "-calibration", "-2"], np.ones(16, np.float32), "-calibration"),
    (["-detpixels", "4", "-psf_fwhm", "-5"], np.ones(16, np.float32), "-psf_fwhm"),
    (["-detpixels", "4", "-psf_radius", "-5"], np.ones(16, np.float32), "-psf_radius"),
    (["-detpixels", "4", "-psf"], np.ones(16, np.float32), "-psf"),
    (["-detpixels", "4", "-bits", "8"], np.ones(16, np.float32), "-bits"),
    (["-detpixels", "4", "-header", "missing.img"], np.ones(16, np.float32), "missing.img"),
    (["-detpixels", "4", "-header", "in.bin"], np.ones(160, np.float32), "not an SMV"),
    (["-detpixels", "4", "-frobnicate", "1"], np.ones(16, np.float32), "unknown flag"),
    (["-detpixels", "4", "-seed", "99999999999"], np.ones(16, np.float32), "C int"),
    (["-detpixels", "4", "-quirks", "fixed"], np.array([np.nan] + [1] * 15, np.float32), "NaN"),
    (["-detpixels", "4", "-quirks", "fixed"], np.array([-1] + [1] * 15, np.float32), "negative"),
    (["-detpixels", "4", "-psf", "lorentz", "-quirks", "fixed"], np.ones(16, np.float32), "lorentz"),
]


@pytest.mark.parametrize("args, image, text", BAD, ids=[b[2] for b in BAD])
def test_bad_input_one_line_error_no_files(tmp_path, args, image, text):
    status, err = _run(tmp_path, args, image)
    assert status == 9
    assert err.count("\n") == 1 and text in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["in.bin"]


def test_api_matches_cli_and_is_deterministic(tmp_path):
    rng = np.random.default_rng(3)
    image = (rng.random((24, 30)) * 200).astype(np.float32)
    args = ["-detpixels_x", "30", "-seed", "4", "-readout", "2", "-flicker", "0.05",
            "-psf", "gauss", "-psf_fwhm", "150", "-pixel", "0.1"]
    cli = _noise(tmp_path, args, image)
    api = detector_response(torch.from_numpy(image), seed=4, readout=2, flicker=0.05,
                            psf="gauss", psf_fwhm=np.float32(150e-6) / 1e-4)
    assert np.array_equal(api["noiseimage"].numpy(), cli.reshape(24, 30))
    stack = torch.from_numpy(np.stack([image, image]))
    a, b = (detector_response(stack, seed=4, readout=2)["noiseimage"] for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])


def test_psf_image_agrees_with_c_kernel():
    rng = np.random.default_rng(5)
    image = np.zeros((40, 40), dtype=np.float32)
    image[8:32, 8:32] = rng.random((24, 24)) * 1000
    fwhm = float(np.float32(230e-6)) / 1e-4
    c = apply_psf(image.ravel(), 40, 40, GAUSS, fwhm, 6, out=lambda *_: None).reshape(40, 40)
    lost = image[image > 0].astype(float).sum() * math.exp(-math.log(16) * (6 / fwhm) ** 2)
    ours = psf_image(torch.from_numpy(image).double(), torch.tensor(fwhm, dtype=torch.float64),
                     6).numpy() + lost / image.size
    assert np.abs(ours - c).max() <= T["psf_image_rel"] * c.max()


def test_gradcheck_psf_width_gain_offset():
    image = torch.rand(9, 11, dtype=torch.float64) * 50
    inputs = (torch.tensor(1.7, dtype=torch.float64, requires_grad=True),
              torch.tensor(2.5, dtype=torch.float64, requires_grad=True),
              torch.tensor(40.0, dtype=torch.float64, requires_grad=True))
    for kind in ("gauss", "fiber"):
        assert torch.autograd.gradcheck(
            lambda fwhm, gain, adc: expected_response(image, gain, adc, fwhm, 3, kind), inputs)
