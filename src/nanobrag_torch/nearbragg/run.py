"""One nearBragg run as an API: parse the flags, read the atoms (and the ``-accumulate``
files), render on the selected backend, and build the output arrays (float, sin/cos, int).

`simulate_near(argv)` returns a `NearRun`; the CLI (`cli.py`) prints and writes it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ..errors import NanoBraggError
from ..flags import split_args
from ..io.atomic import read_input
from ..io.atoms import AtomList, read_atoms
from ..noise import _c_unsigned, _roi_slices, auto_int_scale, int_image, sequential_sum
from . import compiled, engine
from .backend import select_amplitude
from .compiled import compiled_block
from .flag_table import FLAGS, RTD_C
from .geometry import NearSetup, setup
from .render import RenderResult, render
from .settings import NearSettings

log = logging.getLogger("nanobrag_torch")


@dataclass
class NearRun:
    settings: NearSettings
    atoms: AtomList
    setup: NearSetup
    result: RenderResult
    floatimage: np.ndarray            # float32 [S, F]
    sinimage: np.ndarray | None       # float32 [S, F] (coherent)
    cosimage: np.ndarray | None
    warnings: list                    # the oversample WARNING (first line)
    backend: str
    notes: list                       # -accumulate: import / missing-file lines


def parse(argv: list) -> NearSettings:
    """Flags in order onto NearSettings; in ``-quirks c`` a trailing ``-curved_det`` is
    ignored as in the C (it needs a following argument)."""
    parsed = split_args(argv, FLAGS)
    s = NearSettings()
    for name, vals, _ in parsed:
        if name == "-quirks":
            s.quirks = vals[0]
    for name, vals, is_last in parsed:
        if s.quirks == "c" and name in ("-curved_det", "-curved_detector") and is_last:
            continue
        FLAGS[name].apply(s, name, vals)
    if s.atomfile is None:
        raise NanoBraggError("no atom file: give -file FILE (X Y Z [occupancy [B [phase]]] per line)")
    if s.printout_pixel is not None:
        s.printout = True
    return s


def atom_arrays(atoms: AtomList) -> engine.AtomArrays:
    """File units (A, A^2, deg) to the engine's (m, A^2, rad), float64, as the C (817-818)."""
    v = torch.from_numpy(atoms.values.copy())
    return engine.AtomArrays(v[:, :3] / 1e10, v[:, 3], v[:, 4], v[:, 5] / RTD_C)


_IMPORTED = {"float": ("intensity", "image"), "sin": ("sin", "Im(F)"), "cos": ("cos", "Re(F)")}


def _read_floats(path: str, pixels: int, what: str, quirks: str, notes: list):
    """A float32 file of `pixels` values for -accumulate; None (zeros) if missing in c mode.
    `notes` gets the lines the C prints (866-899): the import, or the two WARNING lines."""
    label, initial = _IMPORTED[what]
    if not os.path.exists(path):
        if quirks != "c":
            raise NanoBraggError(f"{path}: -accumulate: no {what} file to read")
        notes += [f"WARNING: no {path} {what}-file to read!", f"setting initial {initial} to all zeroes..."]
        return None
    raw = read_input(path)
    if len(raw) < 4 * pixels or (quirks != "c" and len(raw) != 4 * pixels):
        raise NanoBraggError(f"{path}: -accumulate: {len(raw)} bytes, expected {4 * pixels} "
                             f"({pixels} float32 pixels)")
    notes.append(f"importing {label}: {path}")
    return np.frombuffer(raw, dtype="<f4", count=pixels).astype(np.float32)


def check_atoms(g: NearSetup, atoms: engine.AtomArrays) -> None:
    """An atom at a source point divides by zero in the C: refuse it (both modes)."""
    for row in g.source_points():
        for src in row:
            if src is not None and atoms.count:
                d = atoms.xyz - atoms.xyz.new_tensor(src)
                if bool(((d * d).sum(-1) == 0).any()):
                    raise NanoBraggError("-file: an atom sits exactly at the source point "
                                         f"({src[0]:g}, {src[1]:g}, {src[2]:g}) m")


def simulate_near(argv: list, progress=None, atoms_override: engine.AtomArrays | None = None) -> NearRun:
    """Run the command line `argv` without writing files.  `atoms_override` replaces the
    file's atoms (same count) by tensors, e.g. requiring grad."""
    s = parse(argv)
    atoms = read_atoms(s.atomfile, s.quirks)
    g = setup(s, atoms.extent_A())
    dtype = torch.float64 if s.dtype == "float64" else torch.float32
    if s.device == "cuda" and not torch.cuda.is_available():
        raise NanoBraggError("-device cuda: no CUDA device is available")
    arrays = atoms_override if atoms_override is not None else atom_arrays(atoms)
    check_atoms(g, arrays)
    if dtype == torch.float32 and not engine.float32_keeps_phase(arrays.xyz, g.lambdas):
        dtype = torch.float64         # float32 phases too coarse for this object: float64, rounded
    warnings: list = []
    if g.oversample < g.recommended_oversample:
        warnings.append(f"WARNING: maximum dimension of sample is {atoms.extent_A():g} A")
    pixels = g.xpixels * g.ypixels
    old_float = old_sin = old_cos = None
    notes: list = []
    if s.accumulate and not s.coherent:
        old_float = _read_floats(s.floatfile, pixels, "float", s.quirks, notes)
    if s.accumulate and s.coherent:
        old_sin = _read_floats(s.sinfile, pixels, "sin", s.quirks, notes)
        old_cos = _read_floats(s.cosfile, pixels, "cos", s.quirks, notes)
    F_old = None
    if old_sin is not None or old_cos is not None:
        zeros = np.zeros(pixels, np.float32)
        F_old = tuple(torch.from_numpy((x if x is not None else zeros).astype(np.float64))
                      for x in (old_cos, old_sin))
    needs_grad = any(x.requires_grad for x in (arrays.xyz, arrays.occ, arrays.B, arrays.phase))
    backend, amplitude = select_amplitude(s.backend, s.device, needs_grad=needs_grad)
    exact_c = (s.quirks == "c" and dtype == torch.float64 and backend == "torch"
               and s.device == "cpu" and not needs_grad)
    chunk = None
    if backend == "torch" and not exact_c and not needs_grad and s.device == "cpu":
        terms = g.xpixels * g.ypixels * arrays.count * g.steps
        block = compiled_block(dtype, bool((arrays.B != 0).any()), terms)
        if block is not None:
            amplitude = partial(engine.amplitude, block=block)
            chunk = engine.pixel_chunk(arrays.count, compiled.BLOCK_TERMS, arrays.count)
    result = render(g, arrays, coherent=s.coherent, fixed=s.quirks == "fixed",
                    polarization=not s.nopolar, dtype=dtype, fluence=s.fluence, F_old=F_old,
                    exact_c=exact_c, amplitude=amplitude, chunk=chunk, progress=progress)
    shape = (g.ypixels, g.xpixels)
    inside = np.zeros(shape, bool)
    inside[_roi_slices(shape, g.roi)] = True
    value = result.image.detach().numpy().reshape(shape)
    if not np.isfinite(value[inside]).all():
        raise NanoBraggError("-file: non-finite pixel values: an atom sits on a detector pixel "
                             "position (zero atom-to-pixel path) or the values overflow")
    base = old_float.reshape(shape) if old_float is not None else np.zeros(shape, np.float32)
    floatimage = np.where(inside, (base.astype(np.float64) + value).astype(np.float32), base)
    sinimage = cosimage = None
    if s.coherent:
        images = []
        for new, old in ((result.F_im, old_sin), (result.F_re, old_cos)):
            prev = old.reshape(shape) if old is not None else np.zeros(shape, np.float32)
            images.append(np.where(inside, new.detach().numpy().reshape(shape).astype(np.float32), prev))
        sinimage, cosimage = images
    return NearRun(s, atoms, g, result, floatimage, sinimage, cosimage, warnings, backend, notes)


def roi_stats(run: NearRun) -> dict:
    """The C's statistics over ROI pixels (1174-1181, 1216-1219): max_I (from 0), mean, rms
    (sum and sumsqr added pixel by pixel, each square a float32 product as floatimage[j]^2),
    and max_at: Xdet, Ydet (m) of the last sub-pixel of the first pixel holding max_I (0, 0
    if no pixel is above 0)."""
    rows, cols = _roi_slices(run.floatimage.shape, run.setup.roi)
    block = run.floatimage[rows, cols].astype(np.float64)
    values = block.ravel()
    n = max(values.size, 1)
    max_I = max(0.0, float(values.max())) if values.size else 0.0
    max_at = (0.0, 0.0)
    if max_I > 0.0:
        y, x = np.unravel_index(int(np.argmax(block)), block.shape)
        g = run.setup
        sub = g.pixel / g.oversample
        max_at = tuple(sub * ((v + lo) * g.oversample + g.oversample - 1) + sub / 2.0
                       for v, lo in ((x, g.roi[0]), (y, g.roi[2])))
    total = sequential_sum(values)
    sumsqr = sequential_sum(run.floatimage[rows, cols], square=True)   # float32 squares
    return {"max_I": max_I, "max_at": max_at, "mean": total / n,        # sequential sums
            "rms": float(np.sqrt(sumsqr / (max(n, 2) - 1)))}


def int_pixels(run: NearRun, max_I: float) -> tuple:
    """(uint16 [S, F], scale): ``c``: (unsigned short)(float*scale + adc), truncated, clipped
    at 65535 from above only (negatives wrap as in the C build); ``fixed``: rounded and
    clipped at 0 (the nanoBragg rule).  0 outside the ROI."""
    s = run.settings
    scale = s.intfile_scale if s.intfile_scale > 0.0 else auto_int_scale(max_I)
    if s.quirks != "c":
        return int_image(run.floatimage, scale, s.adc_offset, run.setup.roi), scale
    rows, cols = _roi_slices(run.floatimage.shape, run.setup.roi)
    test = run.floatimage[rows, cols].astype(np.float64) * scale + s.adc_offset
    out = np.zeros(run.floatimage.shape, np.uint16)
    out[rows, cols] = _c_unsigned(np.minimum(test, 65535.0), 16)
    return out, scale
