"""The nanoBragg CLI's outputs for processing programs (flags in `flags_formats.py`):

``-cbffile``  miniCBF, Pilatus header (io/cbf.py), int32 pixels: the ``-intfile`` image
              (same ``-scale`` and ``-adc``) clipped at 2^31 - 1 instead of 65535;
``-nxsfile``  single-image NXmx (dataset/nexus.py, the writer of the many-shot datasets),
              float32 photons or, with ``-nxs_dtype int32``, the same int32 image as the CBF;
``-ponifile`` the pyFAI geometry of the render (io/poni.py).
Written with the other outputs, all together or none.
"""
from __future__ import annotations

import numpy as np

from .errors import NanoBraggError
from .io.atomic import OutputBatch
from .io.optional import require
from .noise import int_image

INT32_MAX = 2**31 - 1


def output_paths(s) -> list:
    """Files these flags will write; geometry a format cannot describe is refused here,
    before rendering."""
    if s.curved_detector and (s.nxsfile or s.ponifile):
        raise NanoBraggError(f"{'-nxsfile' if s.nxsfile else '-ponifile'}: a curved detector "
                             "cannot be described as a flat NXmx module or pyFAI geometry")
    return [p for p in (s.cbffile, s.nxsfile, s.ponifile) if p]


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(float)


def write_outputs(r, image: np.ndarray, scale: float, batch: OutputBatch, argv=(), out=print) -> None:
    """Stage the requested files of render `r` (`simulate.Result`) with float32 image [slow,
    fast] (photons) and `scale` (counts per photon of the int images) into `batch`."""
    s, cfg, d = r.settings, r.config, r.pre.detector
    lam_A = cfg.beam.lambda0_m * 1e10
    ints = None
    if s.cbffile or (s.nxsfile and s.nxs_dtype == "int32"):
        ints = int_image(image, scale, s.adc_offset, cfg.detector.roi, bits=32)
    if s.cbffile:
        from .io.cbf import CbfGeometry, write_cbf
        pixel = cfg.detector.pixel_size_m
        g = CbfGeometry(pixel_m=pixel, distance_m=float(d.distance_m), wavelength_A=lam_A,
                        beam_xy_px=(float(d.Fbeam_m) / pixel, float(d.Sbeam_m) / pixel),
                        exposure_s=s.exposure_s, sensor_material=s.sensor_material,
                        sensor_thickness_m=cfg.detector.thick_m,
                        start_angle_deg=np.degrees(cfg.crystal.phi0_rad),
                        angle_increment_deg=np.degrees(cfg.crystal.osc_rad),
                        twotheta_deg=np.degrees(cfg.detector.twotheta_rad), count_cutoff=INT32_MAX)
        out(f"writing {s.cbffile} as a miniCBF of 4-byte integers")
        write_cbf(s.cbffile, ints, g, batch)
    if s.nxsfile:
        require("h5py", "-nxsfile")
        from .dataset.nexus import image_bytes
        pixels = ints if s.nxs_dtype == "int32" else np.asarray(image, dtype=np.float32)
        out(f"writing {s.nxsfile} as NXmx ({s.nxs_dtype})")
        batch.add(s.nxsfile, image_bytes(r, pixels, list(argv), sensor_material=s.sensor_material,
                                         count_time_s=s.exposure_s, saturation_value=INT32_MAX))
    if s.ponifile:
        from .io.poni import poni_parameters, poni_text, write_poni
        params = poni_parameters(_numpy(d.fdet), _numpy(d.sdet), _numpy(d.pix0_m), _numpy(d.beam))
        out(f"writing {s.ponifile} (pyFAI geometry)")
        write_poni(s.ponifile, poni_text(params, cfg.detector.pixel_size_m, d.shape, cfg.beam.lambda0_m),
                   batch)
