"""The run summary nanoBragg.c prints, line for line where it matters, from the same numbers
the image uses (`Result`).  Values use the C's %g formatting so logs can be diffed.
"""
from __future__ import annotations

import math

from .constants import RTD
from .io.hkl import FdumpFile
from .noise import image_stats



def _g(x) -> str:
    return "%g" % float(x)


def _vec(v) -> str:
    return " ".join(_g(x) for x in v)


def header_lines(r) -> list:
    """Everything the C prints before rendering."""
    pre, cfg = r.pre, r.config
    d, det, cr = pre.detector, cfg.detector, pre.crystal
    b = cfg.beam
    out = [f"nanobrag-torch (nanoBragg.c compatible; quirks={cfg.quirks}, backend={r.backend}, "
           f"dtype={cfg.dtype})",
           f"{det.convention} convention selected.",
           "pivoting detector around sample" if det.pivot == "sample"
           else "pivoting detector around direct beam spot"]
    if d.odet_regenerated:
        out.append("WARNING: auto-generating odet_vector")
    if pre.interpolation_note:
        out.append(pre.interpolation_note)
    a = cr.cell_A_deg
    out.append("Unit Cell: " + " ".join(_g(x) for x in a))
    out.append("Recp Cell: " + " ".join(_g(x) for x in cr.recip_cell))
    out.append(f"volume = {_g(cr.volume_A3)} A^3")
    if cr.misset_random_deg is not None:
        out.append("random orientation misset angles: %f %f %f deg" % cr.misset_random_deg)
    out.extend(cr.warnings)
    size = [float(cr.N[i]) * float(cr.a0_m[i].norm()) * 1e6 for i in range(3)]
    out.append("crystal is %s x %s x %s microns" % tuple(_g(s) for s in size))
    if isinstance(cfg.crystal.hklfile, FdumpFile):
        out.append(f"reading Fs from {cfg.crystal.hklfile.path}")
    if det.oversample <= 0:
        out.append(f"auto-selected {pre.oversample}-fold oversampling")
    elif pre.oversample < pre.recommended_oversample:
        out.append(f"WARNING: recommend -oversample {pre.recommended_oversample} (crystal larger "
                   "than the reciprocal pixel size)")
    n_src = pre.sources.count
    shape = {"round": "ellipsoidal", "square": "parallelpiped", "gauss": "gaussian",
             "tophat": "tophat-spot"}.get(cfg.crystal.shape, cfg.crystal.shape)
    N = [float(x) for x in cr.N]
    polar = ("  polarization effect disabled" if b.nopolar
             else "  Kahn polarization factor: %f" % b.polarization_kahn)
    out += [f"  created a total of {n_src} sources:",
            f"  created a total of {cfg.crystal.mosaic_domains} mosaic domains",
            f"  {pre.sf.n_entries} initialized hkls (all others ={_g(pre.sf.default_F)})",
            "  %s xtal: %.0fx%.0fx%.0f cells" % (shape, *N),
            f"  wave={_g(b.lambda0_m)} meters +/- {_g(b.dispersion_frac * 100)}% in {b.dispsteps} steps",
            polar,
            f"  incident fluence: {_g(pre.fluence)} photons/m^2",
            f"  distance={_g(d.distance_m)} detsize={_g(det.detsize_f_m)}x{_g(det.detsize_s_m)}  "
            f"pixel={_g(det.pixel_size_m)} meters ({det.fpixels}x{det.spixels} pixels)",
            f"  sensor is {_g(det.thick_m)} m thick in {det.thicksteps} layers with mu= {_g(det.mu_per_m)}",
            f"  Xbeam={_g(det.Xbeam_m)} Ybeam={_g(det.Ybeam_m)}",
            f"  Fbeam={_g(d.Fbeam_m)} Sbeam={_g(d.Sbeam_m)}",
            f"  Xclose={_g(det.Xclose_m)} Yclose={_g(det.Yclose_m)}",
            f"  Fclose={_g(d.Fclose_m)} Sclose={_g(d.Sclose_m)}",
            f"  DIRECTION_OF_DETECTOR_X-AXIS= {_vec(d.fdet)}",
            f"  DIRECTION_OF_DETECTOR_Y-AXIS= {_vec(d.sdet)}",
            f"  DIRECTION_OF_DETECTOR_Z-AXIS= {_vec(d.odet)}",
            f"  INCIDENT_BEAM_DIRECTION= {_vec(d.beam)}",
            f"  spindle ROTATION_AXIS= {_vec(cfg.crystal.spindle)}",
            f"  pix0_vector= {_vec(d.pix0_m)} meters",
            f"  dials origin= {_vec(d.dials_origin_mm)}",
            "  roi: %d < x < %d && %d < y < %d" % det.roi,
            f"  hdivrange={_g(b.hdivrange_rad)} hdivstep={_g(b.hdivstep_rad)}  radians",
            f"  vdivrange={_g(b.vdivrange_rad)} vdivstep={_g(b.vdivstep_rad)}  radians",
            f"  {pre.sources.divsteps} divergence steps",
            f"  {n_src} sources",
            f"  {cfg.crystal.mosaic_domains} mosaic domains over mosaic spread of "
            f"{_g(cfg.crystal.mosaic_spread_rad * RTD)} degrees",
            f"  {cfg.crystal.phisteps} phi steps from {_g(cfg.crystal.phi0_rad * RTD)} to "
            f"{_g((cfg.crystal.phi0_rad + cfg.crystal.osc_rad) * RTD)} degrees",
            f"  {pre.oversample}x{pre.oversample} pixel oversample steps"
            + (" +thick" if det.oversample_thick else "") + (" +polar" if det.oversample_polar else "")
            + (" +omega" if det.oversample_omega else ""),
            f"  {pre.steps} steps per pixel (sources x mosaic domains x phi steps x oversample^2)"]
    if pre.mask is not None:
        out.append(f"  skipping zero-flagged pixels in {det.maskfile}")
    return out


def result_lines(r, image_f32, exact: bool = True) -> tuple:
    """Lines printed after rendering, and (max_I, mean, rms, rmsd); with ``exact`` False,
    mean, rms and rmsd are good for printing only (`noise.image_stats`)."""
    pre = r.pre
    det = r.config.detector
    mask = None if pre.mask is None else pre.mask.numpy()
    max_I, argmax, mean, rms, rmsd = image_stats(image_f32, det.roi, mask, exact)
    steps = pre.steps
    omega = r.omega_sum / steps
    lines = ["", f"solid angle subtended by detector = {_g(omega)} steradian ( {_g(100 * omega / 4 / math.pi)}% sphere)"]
    if argmax is not None:
        sub = det.pixel_size_m / pre.oversample
        last = pre.oversample - 1
        fx = sub * (argmax[1] * pre.oversample + last) + sub / 2.0
        sy = sub * (argmax[0] * pre.oversample + last) + sub / 2.0
        lines.append(f"max_I = {_g(max_I)}  at {_g(fx)} {_g(sy)}")
    else:
        lines.append(f"max_I = {_g(max_I)}  at 0 0")
    lines.append(f"mean= {_g(mean)} rms= {_g(rms)} rmsd= {_g(rmsd)}")
    return lines, (max_I, mean, rms, rmsd)
