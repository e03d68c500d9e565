"""Images and geometry for processing programs (issue 15, acceptance 3 and 4).

3. pyFAI, loading our PONI, integrates a ring image we render with peaks at the Bragg
   two-theta of the five strongest reflections, in four conventions (a rotated and two
   two-theta detectors among them).
4. fabio reads our miniCBF with identical pixels and header geometry; the nxmx package
   reads our single-image NXmx, and the beam centre and distance derived from its
   depends_on chain equal the flags' values in each of the five conventions.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from cli_util import eager_engine, run_cli  # noqa: F401
from golden_util import TOL
from nanobrag_torch.io.hkl import HKLTable, write_fdump

pyFAI = pytest.importorskip("pyFAI")
fabio = pytest.importorskip("fabio")
nxmx = pytest.importorskip("nxmx")
h5py = pytest.importorskip("h5py")

PIXEL = 0.4      # mm
SIZE = 100       # pixels

# --- acceptance 3: rings -------------------------------------------------------------------
# The "crystal" of the ring image: a cubic a = 6 A lattice whose five reflection families
# below are the strongest.  A one-cell (-N 1) render samples |F| on the Ewald sphere; the
# table holds, on a fine grid (cell 120 A), a spherically symmetric |F|(q): one Gaussian shell
# (sigma 0.01 1/A) per family at q = 1/d, so every orientation shows the five powder rings.
RING_CELL = 6.0
FAMILIES = {(1, 0, 0): 100.0, (1, 1, 0): 80.0, (1, 1, 1): 120.0, (2, 0, 0): 90.0, (2, 1, 1): 110.0}
GRID_CELL, SHELL_SIGMA, GRID_HALF = 120.0, 0.01, 73        # A, 1/A, indices (q up to 0.58 1/A)
RING_GEOMETRIES = {
    "mosflm": ["-mosflm"],
    "xds_twotheta": ["-xds", "-twotheta", "10"],
    "dials_rotated": ["-dials", "-detector_rotx", "4", "-detector_roty", "6", "-detector_rotz", "20"],
    "denzo_twotheta_rotated": ["-denzo", "-twotheta", "8", "-detector_rotz", "30"],
}


@pytest.fixture(scope="module")
def ring_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("rings") / "rings.Fdump"
    g = np.arange(-GRID_HALF, GRID_HALF + 1) / GRID_CELL
    q = np.sqrt(g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2)
    F = sum(f * np.exp(-(q - np.linalg.norm(hkl) / RING_CELL) ** 2 / (2 * SHELL_SIGMA ** 2))
            for hkl, f in FAMILIES.items())
    write_fdump(path, HKLTable(*[-GRID_HALF, GRID_HALF] * 3, F, F.size))
    return path


def _bragg_two_theta_deg(lambda_A: float) -> list:
    """Two-theta of the five families by Bragg's law, d from the cubic cell."""
    return [np.degrees(2 * np.arcsin(lambda_A * np.linalg.norm(h) / (2 * RING_CELL))) for h in FAMILIES]


def _peak_deg(x: np.ndarray, y: np.ndarray, centre: float) -> float:
    """Centre of a Gaussian + linear background fitted to the profile within 0.8 deg."""
    from scipy.optimize import curve_fit

    w = (x > centre - 0.8) & (x < centre + 0.8)
    x, y = x[w], y[w]

    def model(t, a, c, s, b0, b1):
        return a * np.exp(-(t - c) ** 2 / (2 * s * s)) + b0 + b1 * (t - centre)
    p0 = [y.max() - y.min(), x[np.argmax(y)], 0.3, y.min(), 0.0]
    return float(curve_fit(model, x, y, p0=p0)[0][1])


@pytest.mark.parametrize("geometry", sorted(RING_GEOMETRIES))
def test_pyfai_rings_at_bragg_two_theta(geometry, ring_table, tmp_path):
    args = ["-dump", ring_table, "-cell", *[str(GRID_CELL)] * 3, "90", "90", "90", "-N", "1",
            "-lambda", "1", "-distance", "60", "-detpixels", str(SIZE), "-pixel", str(PIXEL),
            "-oversample", "1", "-nonoise", "-nopgm", "-intfile", "i.img", "-floatfile", "f.bin",
            "-ponifile", "r.poni", *RING_GEOMETRIES[geometry]]
    status, _, err, _ = run_cli(args, tmp_path)
    assert status == 0, err
    image = np.fromfile(tmp_path / "f.bin", dtype=np.float32).reshape(SIZE, SIZE)
    ai = pyFAI.load(str(tmp_path / "r.poni"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ai.integrate1d(image, 1000, unit="2th_deg", correctSolidAngle=True)
    found = [_peak_deg(res.radial, res.intensity, t) for t in _bragg_two_theta_deg(1.0)]
    errors = np.abs(np.array(found) - _bragg_two_theta_deg(1.0))
    assert errors.max() <= TOL["formats"]["ring_two_theta_deg"], errors


# --- acceptance 4: CBF and NXmx ----------------------------------------------------------
DETSIZE = SIZE * PIXEL
# Per convention: flags, and the beam centre (fast, slow, mm from the first pixel's outer
# corner) each convention's rule gives for them (nanoBragg.c's convention blocks).
CONVENTIONS = {
    "mosflm": (["-mosflm", "-Xbeam", "17.3", "-Ybeam", "21.1"], (21.1 + PIXEL / 2, 17.3 + PIXEL / 2)),
    "denzo": (["-denzo", "-Xbeam", "17.3", "-Ybeam", "21.1"], (21.1, 17.3)),
    "adxv": (["-adxv", "-Xbeam", "17.3", "-Ybeam", "21.1"], (17.3, DETSIZE - 21.1)),
    "xds": (["-xds", "-ORGX", "43.25", "-ORGY", "52.5"], ((43.25 - 0.5) * PIXEL, (52.5 - 0.5) * PIXEL)),
    "dials": (["-dials", "-ORGX", "43.25", "-ORGY", "52.5"], ((43.25 - 0.5) * PIXEL, (52.5 - 0.5) * PIXEL)),
}
BASE = ["-default_F", "300", "-cell", "30", "40", "50", "90", "90", "90", "-N", "3", "-misset", "5", "10", "15",
        "-lambda", "1.2", "-distance", "80", "-detpixels", str(SIZE), "-pixel", str(PIXEL), "-oversample", "1",
        "-detector_thick", "450", "-exposure", "0.25", "-nonoise", "-nopgm", "-floatfile", "f.bin",
        "-intfile", "i.img", "-scale", "2000", "-adc", "10"]


@pytest.fixture(scope="module", params=sorted(CONVENTIONS))
def rendered(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    flags, centre = CONVENTIONS[request.param]
    status, _, err, _ = run_cli([*BASE, *flags, "-cbffile", "i.cbf", "-nxsfile", "i.nxs",
                                 "-ponifile", "i.poni"], d)
    assert status == 0, err
    image = np.fromfile(d / "f.bin", dtype=np.float32).reshape(SIZE, SIZE)
    return d, request.param, centre, image


def test_cbf_pixels_and_header(rendered):
    d, _, (fbeam, sbeam), image = rendered
    cbf = fabio.open(str(d / "i.cbf"))
    expected = np.floor(np.clip(image.astype(np.float64) * 2000 + 10, 0, 2**31 - 1) + 0.5)
    assert cbf.data.dtype == np.int32 and expected.max() > 65535          # beyond 16 bits
    np.testing.assert_array_equal(cbf.data, expected)
    h = cbf.pilatus_headers
    tol = TOL["formats"]["geometry_mm"]
    assert h["Pixel_size"] == pytest.approx((PIXEL * 1e-3, PIXEL * 1e-3), rel=1e-12)
    assert abs(h["Detector_distance"] * 1e3 - 80.0) <= tol
    assert h["Wavelength"] == pytest.approx(1.2, rel=1e-12)
    assert h["Exposure_time"] == pytest.approx(0.25, rel=1e-12)
    assert abs(h["Beam_xy"][0] * PIXEL - fbeam) <= tol and abs(h["Beam_xy"][1] * PIXEL - sbeam) <= tol
    assert h["sensor"][0] == "Silicon" and h["sensor"][1] == pytest.approx(450e-6, rel=1e-12)


def test_nxmx_geometry_and_data(rendered):
    d, _, (fbeam, sbeam), image = rendered
    with h5py.File(d / "i.nxs", "r") as f:
        entry = nxmx.NXmx(f).entries[0]
        assert entry.definition == "NXmx"
        det = entry.instruments[0].detectors[0]
        module = det.modules[0]
        np.testing.assert_array_equal(det.data[0], image)
        assert det.sensor_material == "Si" and det.saturation_value == 2**31 - 1
        assert det.sensor_thickness.to("m").magnitude == pytest.approx(450e-6, rel=1e-12)
        assert entry.instruments[0].beams[0].incident_wavelength.to("angstrom").magnitude == \
            pytest.approx(1.2, rel=1e-12)
        chain = nxmx.get_dependency_chain(module.fast_pixel_direction)
        assert [t.path.split("/")[-1] for t in chain] == ["fast_pixel_direction", "module_offset"]
        origin = nxmx.get_cumulative_transformation(chain[1:])[0, :3, 3]              # mm
        fast, slow = module.fast_pixel_direction.vector, module.slow_pixel_direction.vector
        # McStas frame: the beam runs along +z; it meets the module plane at
        # origin + u fast + v slow = t (0, 0, 1)
        u, v, t = np.linalg.solve(np.column_stack([fast, slow, [0.0, 0.0, -1.0]]), -origin)
    tol = TOL["formats"]["geometry_mm"]
    assert abs(u - fbeam) <= tol and abs(v - sbeam) <= tol and abs(t - 80.0) <= tol, (u, v, t)


def test_nxmx_int32_equals_cbf(tmp_path):
    status, _, err, _ = run_cli([*BASE, "-cbffile", "i.cbf", "-nxsfile", "i.nxs", "-nxs_dtype", "int32"],
                                tmp_path)
    assert status == 0, err
    with h5py.File(tmp_path / "i.nxs", "r") as f:
        data = f["entry/data/data"][0]
    assert data.dtype == np.int32
    np.testing.assert_array_equal(data, fabio.open(str(tmp_path / "i.cbf")).data)


def test_poni_two_theta_equals_pixel_geometry(rendered):
    """Every pixel's two-theta from pyFAI's reading of our PONI equals the angle between the
    beam and the pixel centre computed from the flags (untilted detector, beam centre rule)."""
    d, _, (fbeam, sbeam), _ = rendered
    ai = pyFAI.load(str(d / "i.poni"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tth = ai.center_array((SIZE, SIZE), unit="2th_rad")
    s, f = np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5, indexing="ij")
    r = np.hypot(f * PIXEL - fbeam, s * PIXEL - sbeam)
    np.testing.assert_allclose(tth, np.arctan2(r, 80.0), atol=1e-6)


def test_curved_detector_refused_before_rendering(tmp_path):
    status, _, err, _ = run_cli([*BASE, "-curved_det", "-ponifile", "x.poni", "-xds"], tmp_path)
    assert status == 2 and "-ponifile: a curved detector" in err
    assert not any(tmp_path.iterdir())


def test_format_libraries_load_only_when_used():
    """The formats' libraries load only when their flags are used."""
    import subprocess
    import sys
    code = ("import sys, nanobrag_torch.cli, nanobrag_torch.simulate; "
            "print(sorted(m for m in ('gemmi', 'fabio', 'h5py', 'pyFAI') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_non_regular_output_refused(tmp_path):
    """An existing FIFO (like /dev/null) as an output is refused, not replaced by the rename."""
    import os
    import stat
    os.mkfifo(tmp_path / "pipe")
    status, _, err, _ = run_cli([*BASE, "-cbffile", "pipe"], tmp_path)
    assert status == 2 and "pipe: cannot write output file: not a regular file" in err
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)
