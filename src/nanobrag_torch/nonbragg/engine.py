"""The amorphous-background engine: sum over sub-pixels and sources of sign(F) F^2 polar omega w.

A function of plain tensors (no settings, no files), so that the nonBragg command line and a
nanoBragg render (through its detector and sources) feed it alike:

    I[p] = sum_{s, n} sign(F) F(stol)^2 * polar(i_n, d) * omega(pos) * w_n

with pos = position of sub-pixel s of pixel p (m, sample at the origin), d its unit vector,
i_n the incident unit vector of source n, stol = |d - i_n| / (2 lambda_n) in 1/A, F from the
table window (see `table.py`), omega = pixel^2/R^2 * close/R (or 1/R^2 for a point pixel)
and w_n the source weight (already divided by the number of steps if wanted).

Vectorised over pixels x sub-pixels x sources, in chunks of pixel rows; float32 or float64;
any device; differentiable in every tensor input (positions, close distance, weights, table
coefficients). The C's order-dependent index walk over an unsorted table (``walk``) runs
sequentially in the C's loop order (numba, CPU, float64).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..lazy_numba import njit
from ..noise import sequential_sum
from ..physics.polarization import polarization
from .nodes import linear_nodes, stol_span
from .table import evaluate, lookup_sorted

CHUNK_ELEMENTS = 1 << 21     # pixel x sub-pixel x source evaluations per chunk


@dataclass(eq=False)
class Pixels:
    """Pixel geometry of one detector: ``fdet``, ``sdet``, ``pix0`` (3,) (m; unit axes and the
    outer corner of pixel (0, 0)); ``fpixels``, ``spixels``; ``pixel_m``; ``oversample``;
    ``close_m`` (signed, for omega); ``point_pixel``; ``curved``: None or (distance_m, beam
    (3,)) to place every pixel at that distance (the C's -curved_det); ``roi`` inclusive
    (xmin, xmax, ymin, ymax); ``mask`` optional bool [slow, fast] (False = skip)."""

    fdet: torch.Tensor
    sdet: torch.Tensor
    pix0: torch.Tensor
    fpixels: int
    spixels: int
    pixel_m: float
    oversample: int = 1
    close_m: torch.Tensor | float = 0.1
    point_pixel: bool = False
    curved: tuple | None = None
    roi: tuple | None = None
    mask: torch.Tensor | None = None


@dataclass(eq=False)
class Beam:
    """Sources: ``incident`` [N, 3] unit vectors (towards +beam), ``lambda_A`` [N] (A),
    ``weight`` [N]; polarization ``kahn`` (0 = unpolarized), ``axis`` (3,) E-vector,
    ``nopolar``."""

    incident: torch.Tensor
    lambda_A: torch.Tensor
    weight: torch.Tensor
    kahn: float | torch.Tensor = 0.0
    axis: torch.Tensor | None = None
    nopolar: bool = False


@dataclass(eq=False)
class Rendered:
    """``image`` [slow, fast] (unscaled sum); ``omega_sum`` (sum of omega over rendered
    sub-pixels, as the C prints it); ``last``: per pixel [slow, fast] values of the LAST
    evaluation (stol 1/A, window k, F, polar, omega; pos [slow, fast, 3] the last sub-pixel's
    position, m), for -Fmap, -img and -printout."""

    image: torch.Tensor
    omega_sum: float
    last: dict


def from_contract(inputs, flags, weight: torch.Tensor, oversample: int, panel: int = 0) -> tuple:
    """(`Pixels`, `Beam`) of panel ``panel`` of a spots render's contract (`RenderInputs`,
    `RenderFlags`): its pixel geometry, ROI and mask, sources and polarization. ``weight`` [N]:
    the source weights as nonBragg applies them (the contract's ``source_weight`` follows
    nanoBragg's rule); ``oversample``: the component's own sub-pixels per axis."""
    curved = (inputs.distance[panel], inputs.beam) if flags.curved else None
    px = Pixels(fdet=inputs.fdet[panel], sdet=inputs.sdet[panel], pix0=inputs.pix0[panel],
                fpixels=inputs.fpixels, spixels=inputs.spixels, pixel_m=float(inputs.pixel_size),
                oversample=oversample, close_m=inputs.close_distance[panel],
                point_pixel=flags.point_pixel, curved=curved, roi=inputs.roi,
                mask=None if inputs.mask is None else inputs.mask[panel])
    beam = Beam(incident=inputs.incident, lambda_A=inputs.lambda_m * 1e10, weight=weight,
                kahn=inputs.kahn if flags.kahn else 0.0, axis=inputs.polar_axis,
                nopolar=not flags.polarize)
    return px, beam


def _positions(px: Pixels, rows: torch.Tensor, dtype, device):
    """Sub-pixel positions [R, F, S, 3] (m) of pixel rows ``rows`` (C order: subS, subF)."""
    o = px.oversample
    sub = px.pixel_m / o
    subs = torch.arange(o, dtype=torch.float64, device=device)
    fast = torch.arange(px.fpixels, dtype=torch.float64, device=device)
    Fdet = sub * (fast[:, None] * o + subs[None, :]) + sub / 2.0                      # [F, o]
    Sdet = sub * (rows.to(torch.float64)[:, None] * o + subs[None, :]) + sub / 2.0      # [R, o]
    fdet, sdet, pix0 = (v.to(device=device, dtype=torch.float64) for v in (px.fdet, px.sdet, px.pix0))
    pos = (Fdet[None, :, None, :, None] * fdet + Sdet[:, None, :, None, None] * sdet + pix0)   # C order
    pos = pos.reshape(rows.numel(), px.fpixels, o * o, 3)
    if px.curved is not None:
        distance, beam = px.curved
        pos = _curve(pos, distance, beam.to(device=device, dtype=torch.float64), sdet, fdet)
    return pos.to(dtype)


def _curve(pos, distance, beam, sdet, fdet):
    """The C's curved detector: distance*beam rotated about sdet by y/distance, then about
    fdet by z/distance (y, z: components of the flat position)."""
    from ..physics.vectors import rotate_axis
    start = (distance * beam).expand_as(pos)
    turned = rotate_axis(start, sdet, pos[..., 1] / distance)
    return rotate_axis(turned, fdet, pos[..., 2] / distance)


@njit(cache=True)
def _walk(stol, table_x, nearest):
    """The C's persistent index walk (lines 1506-1507) over ``stol`` in loop order."""
    n = table_x.size
    out = np.empty(stol.size, dtype=np.int64)
    for i in range(stol.size):
        s = stol[i]
        while nearest < n and s > table_x[nearest]:
            nearest += 1
        while nearest >= 2 and s < table_x[nearest]:
            nearest -= 1
        out[i] = nearest
    return out, nearest


def render(px: Pixels, beam: Beam, table, *, dtype=torch.float64, device="cpu",
           walk: bool = False, scale: torch.Tensor | None = None,
           keep_last: bool = False) -> Rendered:
    """Background image [slow, fast]: ``scale`` x the sum over sub-pixels and sources (module doc).

    ``table``: dict of tensors ``x`` [n+4] (1/A), ``coef`` [n+4, 4], ``origin`` [n+4] (a table
    scale multiplies ``coef`` upstream), or a list of them (summed, each times its entry of a
    ``scale`` list); ``walk``: reproduce the C's sequential index walk (needed only for
    unsorted tables); ``scale``: optional factor (number or 0-d tensor); ``keep_last``: also
    return the last evaluation per pixel. The compiled CPU path serves what it can
    (`_compiled_ok`), the vectorised torch path the rest.
    """
    tables = table if isinstance(table, list) else [table]
    scales = scale if isinstance(scale, list) else [scale] * len(tables)
    if _compiled_ok(px, beam, tables, scales, walk, device, keep_last):
        each = _render_fast32(px, beam, tables) if dtype == torch.float32 else None
        if each is None:
            return _render_compiled(px, beam, tables, dtype, scales)
        image = sum(r.image * (1.0 if sc is None else float(sc)) for r, sc in zip(each, scales))
        return Rendered(image=image, omega_sum=each[0].omega_sum,
                        last={"nan_pixels": sum(r.last["nan_pixels"] for r in each)})
    parts = [_render_torch(px, beam, t, dtype, device, walk, sc, keep_last)
             for t, sc in zip(tables, scales)]
    if len(parts) == 1:
        return parts[0]
    return Rendered(image=sum(p.image for p in parts), omega_sum=parts[0].omega_sum, last={})


def render_each(px: Pixels, beam: Beam, tables: list, *, dtype=torch.float64, device="cpu",
                walk: bool = False) -> list:
    """One unscaled `Rendered` per table of ``tables`` (as `render` with one table each); in
    float32 on the compiled path, all of them in one pass over the geometry (fast32.py)."""
    if dtype == torch.float32 and _compiled_ok(px, beam, tables, [None], walk, device, False):
        each = _render_fast32(px, beam, tables)
        if each is not None:
            return each
    return [render(px, beam, t, dtype=dtype, device=device, walk=walk) for t in tables]


def render_sum(px: Pixels, beam: Beam, tables: list, scales: list, *, dtype, device,
               walk: bool = False) -> Rendered | None:
    """The image of sum_t scales[t] x table t in one float32 pass that interpolates the summed
    sign(F) F^2 linearly (nodes.linear_nodes, within nodes.LINEAR_REL), or None when that
    path does not serve the render (then `render_each`). ``tables`` carry their digests."""
    if (dtype != torch.float32 or any(t.get("digest") is None for t in tables)
            or not _compiled_ok(px, beam, tables, scales, walk, device, False)):
        return None
    each = _render_fast32(px, beam, tables, scales)
    return None if each is None else each[0]


def _render_fast32(px: Pixels, beam: Beam, tables: list, scales: list | None = None) -> list | None:
    """float32 images of the tables through fast32.py (unscaled `Rendered` each), or with
    ``scales`` their scaled sum by linear interpolation (one `Rendered`); None when a table
    has no cell grid or node spacing (rows repeated or too close)."""
    from . import fast32                  # numba (parallel rows): imported on first use
    if scales is not None:
        linear = linear_nodes(tables, scales, stol_span(beam.lambda_A))
        if linear is None:
            return None
        inv_h, nodes = linear
        lo, inv_hs, top = [0.0], [inv_h], [nodes.size // 2 - 1]
        records = np.zeros((1, 0), dtype=np.float32)
    else:
        cells = [fast32.cells_of(t) for t in tables]
        if any(c is None for c in cells):
            return None
        lo, inv_hs, top = [c[0] for c in cells], [c[1] for c in cells], [c[2].shape[0] - 1 for c in cells]
        records = np.zeros((len(cells), max(top) * fast32.RECORD + fast32.RECORD), dtype=np.float32)
        for i, c in enumerate(cells):
            records[i, :c[2].size] = c[2].reshape(-1)
        nodes = np.zeros(0, dtype=np.float32)
    xmin, xmax, ymin, ymax = px.roi if px.roi is not None else (0, px.fpixels, 0, px.spixels)
    f_lo, f_hi, s_lo, s_hi = max(xmin, 0), min(xmax, px.fpixels - 1), max(ymin, 0), min(ymax, px.spixels - 1)
    full = (f_lo, f_hi, s_lo, s_hi) == (0, px.fpixels - 1, 0, px.spixels - 1)
    out = np.empty((len(top), max(s_hi - s_lo + 1, 0), max(f_hi - f_lo + 1, 0)), dtype=np.float32)
    inc = _f64(beam.incident)
    axis = _f64(beam.axis) if beam.axis is not None else np.array([0.0, 0.0, 1.0])
    bvec = _unit_cross(axis, inc)
    evec = _unit_cross(inc, bvec)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)       # noqa: E731
    omega_sum, nans = fast32.background_rows32(
        _f64(px.fdet), _f64(px.sdet), _f64(px.pix0), f_lo, s_lo, px.pixel_m / px.oversample,
        px.oversample, px.pixel_m * px.pixel_m * float(torch.as_tensor(px.close_m)), px.point_pixel,
        f32(inc), f32(_f64(0.5 / beam.lambda_A)), f32(_f64(beam.weight)), float(beam.kahn), f32(bvec),
        f32(evec), not beam.nopolar, f32(lo), f32(inv_hs), f32(top), records, nodes, out)
    if not full:
        placed = np.zeros((len(top), px.spixels, px.fpixels), dtype=np.float32)
        placed[:, s_lo:s_hi + 1, f_lo:f_hi + 1] = out
        out = placed
    images = torch.from_numpy(out)
    if px.mask is not None:
        images = images * px.mask.to(images.dtype)
    return [Rendered(image=image, omega_sum=float(omega_sum), last={"nan_pixels": int(n)})
            for image, n in zip(images, nans)]


def _f64(t) -> np.ndarray:
    return np.ascontiguousarray(torch.as_tensor(t).detach().cpu().to(torch.float64).numpy())


def _unit_cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows of a x b ([3] or [N, 3] each, broadcast) made unit; zero rows stay zero (as the
    C's unitize)."""
    v = a[..., [1, 2, 0]] * b[..., [2, 0, 1]] - a[..., [2, 0, 1]] * b[..., [1, 2, 0]]
    norm = np.sqrt((v * v).sum(axis=-1, keepdims=True))
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _render_torch(px: Pixels, beam: Beam, table: dict, dtype, device, walk: bool, scale,
                  keep_last: bool) -> Rendered:
    """The vectorised torch path for one table: chunks of pixel rows x sub-pixels x sources."""
    o2 = px.oversample ** 2
    n_src = beam.incident.shape[0]
    per_row = max(px.fpixels * o2 * n_src, 1)
    rows_per_chunk = max(1, CHUNK_ELEMENTS // per_row)
    inc = beam.incident.to(device=device, dtype=dtype)
    inv_lam = (0.5 / beam.lambda_A).to(device=device, dtype=dtype)
    w = beam.weight.to(device=device, dtype=dtype)
    axis = None if beam.axis is None else beam.axis.to(device=device, dtype=dtype)
    tx = table["x"].to(device=device, dtype=dtype)
    tx64 = table["x"].detach().cpu().to(torch.float64).numpy()
    coef = table["coef"].to(device=device, dtype=dtype)
    origin = table["origin"].to(device=device, dtype=dtype)
    close = torch.as_tensor(px.close_m).to(device=device, dtype=dtype)
    area = px.pixel_m * px.pixel_m
    xmin, xmax, ymin, ymax = px.roi if px.roi is not None else (0, px.fpixels, 0, px.spixels)
    inside = roi_mask(px.fpixels, px.spixels, (xmin, xmax, ymin, ymax), device)
    chunks, omega_sum, nearest = [], 0.0, 0
    last = {key: [] for key in ("stol", "k", "F", "polar", "omega", "pos")} if keep_last else None
    for start in range(0, px.spixels, rows_per_chunk):
        rows = torch.arange(start, min(start + rows_per_chunk, px.spixels), device=device)
        keep = inside[rows]                                                  # [R, F]
        pos = _positions(px, rows, dtype, device)                            # [R, F, S, 3]
        r2 = (pos * pos).sum(-1)
        R = torch.sqrt(r2)
        d = pos / R[..., None]
        omega = 1.0 / R / R if px.point_pixel else area / R / R * close / R  # [R, F, S], C order
        diff = d[..., None, :] - inc                                         # [R, F, S, N, 3]
        stol = torch.sqrt((diff * diff).sum(-1)) * inv_lam                   # [R, F, S, N]
        if walk:
            flat = stol.detach().to(torch.float64).cpu()
            flat = torch.where(keep[..., None, None].cpu(), flat, torch.nan).reshape(-1).numpy()
            k_np, nearest = _walk_kept(flat, tx64, nearest)
            k = torch.from_numpy(k_np).to(device).reshape(stol.shape)
        else:
            k = lookup_sorted(tx, stol)
        F = evaluate(coef, origin, k, stol)
        polar = (torch.ones_like(stol) if beam.nopolar else
                 polarization(beam.kahn, inc, d[..., None, :], axis))
        term = F * F.abs() * polar * w                                      # sign(F) F^2
        I = (term.sum(-1) * omega).sum(-1)
        I = torch.where(keep, I, torch.zeros_like(I))
        if px.mask is not None:
            I = I * px.mask[rows].to(device=device, dtype=dtype)
        chunks.append(I)
        # the C's running double sum, pixel by pixel and sub-pixel by sub-pixel
        kept = omega.detach().to(torch.float64).cpu()[keep.cpu()].reshape(-1).numpy()
        omega_sum = sequential_sum(kept, start=omega_sum)
        if keep_last:
            for key, v in (("stol", stol[..., -1, -1]), ("k", k[..., -1, -1]), ("F", F[..., -1, -1]),
                           ("polar", polar[..., -1, -1]), ("omega", omega[..., -1]),
                           ("pos", pos[..., -1, :])):
                last[key].append(v.detach())
    image = torch.cat(chunks, 0)
    if scale is not None:
        image = image * scale
    if keep_last:
        last = {key: torch.cat(v, 0) for key, v in last.items()}
    return Rendered(image=image, omega_sum=omega_sum, last=last or {})


def has_nan(out: Rendered) -> bool:
    """Whether the rendered image holds NaN pixels (counted by the compiled path)."""
    if "nan_pixels" in out.last:
        return out.last["nan_pixels"] > 0
    return bool(torch.isnan(out.image.detach()).any())


def _compiled_ok(px: Pixels, beam: Beam, tables: list, scales: list, walk: bool, device,
                 keep_last: bool) -> bool:
    """The compiled path (fast.py) serves CPU renders of flat detectors over sorted tables
    that need neither gradients nor the last-evaluation maps."""
    tensors = [px.fdet, px.sdet, px.pix0, px.close_m, beam.incident, beam.lambda_A, beam.weight,
               beam.kahn, *scales, *(v for t in tables for v in t.values())]
    grad = any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)
    return (str(device) == "cpu" and not walk and px.curved is None and not keep_last and not grad)


def _render_compiled(px: Pixels, beam: Beam, tables: list, dtype, scales: list) -> Rendered:
    """All tables through the compiled kernel in one pass over the geometry (fast.py); tables
    padded to one length with +inf window starts (never reached: each walk stops at its last)."""
    roi = np.array(px.roi if px.roi is not None else (0, px.fpixels, 0, px.spixels), dtype=np.int64)
    length = max(int(t["x"].numel()) for t in tables)
    tx = np.full((len(tables), length), np.inf)
    coef = np.zeros((len(tables), length, 4))
    origin = np.zeros((len(tables), length))
    lasts = np.zeros(len(tables), dtype=np.int64)
    for i, t in enumerate(tables):
        n = int(t["x"].numel())
        tx[i, :n], coef[i, :n], origin[i, :n], lasts[i] = _f64(t["x"]), _f64(t["coef"]), _f64(t["origin"]), n - 3
    out = np.zeros((px.spixels, px.fpixels), dtype=np.float32 if dtype == torch.float32 else np.float64)
    axis = _f64(beam.axis) if beam.axis is not None else np.array([0.0, 0.0, 1.0])
    from .fast import background_rows          # numba (parallel rows): imported on first use
    omega_sum, nans = background_rows(
        _f64(px.fdet), _f64(px.sdet), _f64(px.pix0), px.fpixels, px.spixels, float(px.pixel_m),
        px.oversample, float(torch.as_tensor(px.close_m)), px.point_pixel, roi, _f64(beam.incident),
        _f64(0.5 / beam.lambda_A), _f64(beam.weight), float(beam.kahn), axis, beam.nopolar,
        tx, coef, origin, lasts, np.array([1.0 if sc is None else float(sc) for sc in scales]), out)
    image = torch.from_numpy(out)
    if px.mask is not None:
        image = image * px.mask.to(image.dtype)
    return Rendered(image=image, omega_sum=float(omega_sum), last={"nan_pixels": int(nans)})


def _walk_kept(flat: np.ndarray, table_x: np.ndarray, nearest: int):
    """Walk only over evaluations the C makes (NaN marks pixels outside the ROI)."""
    kept = ~np.isnan(flat)
    k = np.ones(flat.size, dtype=np.int64)
    k[kept], nearest = _walk(np.ascontiguousarray(flat[kept]), table_x, nearest)
    return k, nearest


def roi_mask(fpixels: int, spixels: int, roi: tuple, device) -> torch.Tensor:
    """[slow, fast] bool: inside the inclusive ROI (xmin, xmax, ymin, ymax)."""
    xmin, xmax, ymin, ymax = roi
    f = torch.arange(fpixels, device=device)
    s = torch.arange(spixels, device=device)
    return (((s >= ymin) & (s <= ymax))[:, None] & ((f >= xmin) & (f <= xmax))[None, :])
