"""nonBragg.c's outputs (lines 1578-1886): statistics, SMV int and noise images, PGM, the
-img inverse path's ``-stolout`` table and the ``-printout`` lines.

Images are numpy [slow, fast]; the ROI is inclusive (xmin, xmax, ymin, ymax). The int/PGM/noise
pixel rules are the shared ones of `noise.py` (the C's floorf and casts); nonBragg differs in
its statistics (the shifted rmsd, the -img pixel counter) and its SMV header keys.
"""
from __future__ import annotations

import math

import numpy as np

from ..config import _phi_steps
from ..conventions import time_seed
from ..io.atomic import OutputBatch, atomic_write
from ..io.pgm import write_pgm
from ..io.raw import write_floatfile
from ..io.smv import _g, write_smv
from ..noise import (auto_int_scale, auto_pgm_scale, image_stats, int_image, noise_image, pgm_image,
                     sequential_sum)
from ..precompute import R_E_SQR
from .setup import RTD, Job


def _roi_values(image: np.ndarray, roi: tuple) -> tuple:
    xmin, xmax, ymin, ymax = roi
    rows = slice(max(ymin, 0), min(ymax + 1, image.shape[0]))
    cols = slice(max(xmin, 0), min(xmax + 1, image.shape[1]))
    return rows, cols


def statistics(job: Job, image: np.ndarray, n_override: int | None = None) -> dict:
    """max_I, mean, rms, rmsd as the C prints and uses them.

    c: rmsd from the image shifted by one pixel (lines 1688-1705: the index is incremented
    before use, the last ROI pixel reads the zero padding); with -img the mean and rms use the
    pixel count left by the -stolout pass (``n_override``). fixed: plain statistics."""
    c = job.s.quirks == "c"
    max_I, argmax, mean, rms, _ = image_stats(image, job.roi)
    rows, cols = _roi_values(image, job.roi)
    n = image[rows, cols].size            # 0 for an empty ROI (xmin > xmax or off the detector)
    if c and n_override is not None:
        total = sequential_sum(image[rows, cols].astype(np.float64).ravel())
        squares = image[rows, cols].ravel() * image[rows, cols].ravel()     # float32 products
        mean = total / max(n_override, 1)
        rms = math.sqrt(sequential_sum(squares.astype(np.float64)) / (max(n_override, 2) - 1))
    flat = np.concatenate([image.ravel(), np.zeros(1, np.float32)])
    source = flat[1:].reshape(image.shape) if c else image
    dev = source[rows, cols].astype(np.float64).ravel() - mean
    rmsd = math.sqrt(sequential_sum(dev * dev) / (max(n, 2) - 1))
    at = (0.0, 0.0)                       # Fdet, Sdet of the maximum's last sub-pixel (1579-1582)
    if argmax is not None:
        sub = job.s.pixel_size_m / job.oversample
        at = tuple(sub * (i * job.oversample + job.oversample - 1) + sub / 2.0 for i in argmax[::-1])
    return dict(max_I=max_I, argmax=argmax, mean=mean, rms=rms, rmsd=rmsd, max_at=at)


@np.errstate(all="ignore")
def int_pixels(job: Job, image: np.ndarray, scale: float) -> np.ndarray:
    """SMV int pixels. c: floorf of the value rounded to float (noise.int_image); fixed: the
    value clipped to [0, 65535] and rounded half up in double."""
    if job.s.quirks == "c":
        return int_image(image, scale, job.s.adc_offset, job.roi)
    rows, cols = _roi_values(image, job.roi)
    out = np.zeros(image.shape, dtype=np.uint16)
    values = np.clip(image[rows, cols].astype(np.float64) * scale + job.s.adc_offset, 0.0, 65535.0)
    out[rows, cols] = np.floor(values + 0.5).astype(np.uint16)
    return out


def smv_fields(job: Job) -> list:
    """nonBragg's SMV header (lines 1750-1762): no convention-specific keys. OSC_RANGE is
    ``osc`` after the phi auto rules (lines 893-935): ``-phisteps N`` alone gives 1 deg,
    ``-phistep x`` alone x, nothing 0."""
    s, h = job.s, job.header
    osc = _phi_steps(s.osc_rad, s.phistep_rad, s.phisteps)[0]
    return [("HEADER_BYTES", "512"), ("DIM", "2"), ("BYTE_ORDER", "little_endian"),
            ("TYPE", "unsigned_short"), ("SIZE1", "%d" % job.fpixels), ("SIZE2", "%d" % job.spixels),
            ("PIXEL_SIZE", _g(s.pixel_size_m * 1000.0)), ("DISTANCE", _g(h["distance"] * 1000.0)),
            ("WAVELENGTH", _g(s.lambda0_m * 1e10)), ("BEAM_CENTER_X", _g(h["Xbeam"] * 1000.0)),
            ("BEAM_CENTER_Y", _g((job.detsize[1] - h["Ybeam"]) * 1000)),
            ("ORGX", _g(h["ORGX"])), ("ORGY", _g(h["ORGY"])),
            ("CLOSE_DISTANCE", _g(h["close"] * 1000.0)), ("PHI", _g(s.phi0_rad * RTD)),
            ("OSC_START", _g(s.phi0_rad * RTD)), ("OSC_RANGE", _g(osc * RTD)),
            ("TWOTHETA", _g(s.twotheta_rad * RTD)), ("DETECTOR_SN", "000"), ("BEAMLINE", "fake")]


def stolout(job: Job, last: dict, image_in: np.ndarray) -> tuple:
    """The -img inverse path (lines 1547-1576, 1620-1680): per table bin with > 100 valid
    pixels a line 'stol mean rmsd   median mad  n'. Returns (lines, warnings, n_last): n_last is
    the pixel count of the last bin (the C's reused counter). Median and mad are uninitialised
    in the C (printed 0 here in c mode); fixed computes them."""
    s, t = job.s, job.table
    k = last["k"].cpu().numpy()
    stol = last["stol"].cpu().numpy().astype(np.float64)
    polar, omega = (last[key].cpu().numpy().astype(np.float64) for key in ("polar", "omega"))
    deviate = ((image_in.astype(np.float64) - s.adc_offset) / s.gain).astype(np.float32)
    sign = np.where(deviate < 0, -1.0, 1.0)
    with np.errstate(all="ignore"):
        F_pix = (sign * np.sqrt(np.abs(deviate) / polar / omega / job.fluence / R_E_SQR
                                / job.molecules * job.steps)).astype(np.float32)
    inside = _inside(job, image_in.shape)
    invalid = ~inside
    for value in s.ignore_values:
        invalid |= image_in == value
    bins = np.where(stol > (t.x[k] + t.x[np.minimum(k + 1, t.x.size - 1)]) / 2.0, k + 1, k)
    bins = np.where(invalid, 0, bins)
    if s.quirks == "c":
        slots = _c_bin_slots(np.where(inside, F_pix, np.float32(0)).ravel(), bins.ravel(), inside.ravel(),
                             t.x.size)
    lines, warnings, n_last = [], [], 0
    for b in range(2, t.x.size - 2):
        values = slots[b] if s.quirks == "c" else F_pix[bins == b]
        n_last = values.size
        avg = float(np.cumsum(values)[-1] / np.float32(max(values.size, 1))) if values.size else math.nan
        dev = np.abs(values - np.float32(avg)) if values.size else values
        rmsd = float(np.sqrt(np.cumsum(dev * dev)[-1] / np.float32(values.size))) if values.size else math.nan
        median = mad = 0.0
        if s.quirks == "fixed" and values.size:
            median = float(np.median(values))
            mad = float(np.median(np.abs(values - median)))
        x = t.x[b] / t.file_mult
        if values.size > 100:
            lines.append(f"{_g(x)} {_g(avg)} {_g(rmsd)}   {_g(median)} {_g(mad)}  {values.size}")
        else:
            warnings.append(f"WARNING: not enough pixels in bin= {b} n={values.size} stol= {_g(x)} "
                            f"median= 0 avg_arej= {_g(avg if values.size else 0.0)}")
    return lines, warnings, n_last


def _c_bin_slots(F: np.ndarray, bins: np.ndarray, counted: np.ndarray, stols: int) -> list:
    """The values the C reads for each bin (lines 1628-1650): one float buffer holds the bins
    one after another, bin b's slot 2*pixels_in[b] + 2 long, and every pixel is written at its
    bin's running pointer in pixel order. ``pixels_in`` counts ROI pixels only, but the pixels
    outside the ROI are written too (bin 0, F = 0): with an ROI they run past bin 0's slot
    and overwrite the first bins' values (later writes win). ``F``, ``bins``, ``counted`` (in
    the ROI): [pixels] in pixel order. Returns the n = pixels_in[b] values read for each bin."""
    pixels_in = np.bincount(bins[counted], minlength=stols).astype(np.int64)
    start = np.ones(stols, dtype=np.int64)                 # bin_start[0] = buffer + 1
    start[1:] = 1 + np.cumsum(2 * pixels_in[:-1] + 2)
    order = np.argsort(bins, kind="stable")
    first = np.searchsorted(bins[order], bins[order], side="left")
    rank = np.empty(bins.size, dtype=np.int64)
    rank[order] = np.arange(bins.size) - first
    where = start[bins] + rank
    writer = np.full(int(where.max(initial=0)) + 1, -1, dtype=np.int64)
    np.maximum.at(writer, where, np.arange(bins.size))      # the last pixel written wins
    buffer = np.where(writer >= 0, F[np.maximum(writer, 0)], np.float32(0))
    return [buffer[start[b]:start[b] + pixels_in[b]] for b in range(stols)]


def _inside(job: Job, shape: tuple) -> np.ndarray:
    rows, cols = _roi_values(np.empty(shape), job.roi)
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def write_all(job: Job, image: np.ndarray, stats: dict, batch: OutputBatch, out=print,
              stol_lines: list | None = None) -> None:
    """Stage the float, int, PGM (and noise, stolout) files into ``batch``, printing as the C."""
    s = job.s
    if stol_lines is not None:
        atomic_write(s.stoloutfile, "".join(line + "\n" for line in stol_lines).encode(), batch)
        out(f"wrote {s.stoloutfile} as {len(stol_lines)} lines of text")
    out(f"writing {s.floatfile} as {image.size} 4-byte floats")
    write_floatfile(s.floatfile, image, batch)
    out(f"max_I = {_g(stats['max_I'])}  at {_g(stats['max_at'][0])} {_g(stats['max_at'][1])}")
    out(f"mean= {_g(stats['mean'])} rms= {_g(stats['rms'])} rmsd= {_g(stats['rmsd'])}")
    scale = s.intfile_scale if s.intfile_scale > 0 else auto_int_scale(stats["max_I"])
    out(f"intfile_scale = {_g(scale)}")
    fields = smv_fields(job)
    write_smv(s.intfile, int_pixels(job, image, scale), fields, batch)
    out(f"writing {s.intfile} as 2-byte integers")
    pgm_scale = s.pgm_scale if s.pgm_scale > 0 else auto_pgm_scale(stats["rmsd"], scale)
    out(f"pgm_scale = {_g(pgm_scale)}")
    if s.write_pgm or s.quirks == "c":
        write_pgm(s.pgmfile, pgm_image(image, pgm_scale, job.roi), pgm_scale, batch)
        out(f"writing {s.pgmfile} as 1-byte integers")
    if s.calculate_noise:
        seed = s.seed if s.seed is not None else time_seed()
        noisy, photons, overloads = noise_image(image, seed, s.adc_offset, job.roi)
        out(f"{photons:.0f} photons on noise image ({overloads} overloads)")
        write_smv(s.noisefile, noisy, fields, batch)
        out(f"writing {s.noisefile} as 2-byte integers")
