"""PNG preview (``-pngfile``, ours): the float image, log-scaled, in false colour, with a
labelled colour bar; written by a small PNG encoder (zlib, 8-bit RGB), no imaging library.

The preview maps photons I >= 0 to t = log(1 + I) / log(1 + I_max) (negative values count as
0, NaN pixels are grey, +inf is I_max). Images larger than `MAX_SIDE` pixels are shrunk by
block maxima (spots stay visible), small ones enlarged to at least `MIN_SIDE` pixels.
"""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

from nanobrag_torch.io.atomic import OutputBatch, atomic_write

MAX_SIDE = 1024
MIN_SIDE = 256
# Colour map control points (t, R, G, B): black -> purple -> red -> orange -> pale yellow.
_CMAP = np.array([(0.0, 0, 0, 4), (0.25, 87, 16, 110), (0.5, 188, 55, 84),
                  (0.75, 249, 142, 9), (1.0, 252, 255, 164)], dtype=np.float64)
_NAN_RGB = (128, 128, 128)
# 3x5 digit font for the colour bar labels: each glyph is 5 rows of 3 bits (MSB left).
_GLYPHS = {"0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
           "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 1, 1),
           "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), ".": (0, 0, 0, 0, 2), "e": (0, 7, 7, 4, 7),
           "+": (0, 2, 7, 2, 0), "-": (0, 0, 7, 0, 0)}


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode ``rgb`` (uint8 [height, width, 3]) as a PNG file (8-bit truecolour, no filter)."""
    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def _resample(image: np.ndarray) -> np.ndarray:
    """Block maxima down to <= MAX_SIDE, or pixel repetition up to >= MIN_SIDE: [h', w']."""
    height, width = image.shape
    shrink = math.ceil(max(height, width) / MAX_SIDE)
    if shrink > 1:
        h, w = -(-height // shrink) * shrink, -(-width // shrink) * shrink
        padded = np.full((h, w), np.nan)
        padded[:height, :width] = image
        # fmax ignores NaN unless a whole block is NaN
        return np.fmax.reduce(padded.reshape(h // shrink, shrink, w // shrink, shrink), axis=(1, 3))
    grow = max(1, MIN_SIDE // max(height, width))
    return np.repeat(np.repeat(image, grow, axis=0), grow, axis=1)


def _colour(t: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] colours for t in [0, 1] (NaN -> grey)."""
    rgb = np.stack([np.interp(t, _CMAP[:, 0], _CMAP[:, i]) for i in (1, 2, 3)], axis=-1)
    rgb[np.isnan(t)] = _NAN_RGB
    return np.rint(rgb).astype(np.uint8)


def _label(text: str, scale: int) -> np.ndarray:
    """Bool mask [5*scale, 4*len*scale] of ``text`` in the 3x5 font."""
    cells = np.zeros((5, 4 * len(text)), dtype=bool)
    for i, ch in enumerate(text):
        for row, bits in enumerate(_GLYPHS[ch]):
            cells[row, 4 * i:4 * i + 3] = [(bits >> (2 - col)) & 1 for col in range(3)]
    return np.kron(cells, np.ones((scale, scale), dtype=bool))


def _ticks(vmax: float) -> list[float]:
    """0, the powers of ten below vmax, and vmax (photons)."""
    decades = [10.0 ** k for k in range(0, int(math.floor(math.log10(vmax))) + 1)] if vmax >= 1 else []
    return [0.0] + [v for v in decades if v < vmax] + [vmax]


def preview_rgb(image: np.ndarray) -> np.ndarray:
    """The preview picture: uint8 [height, width + colour bar, 3] for a float image [slow, fast]
    in photons per pixel."""
    data = _resample(np.asarray(image, dtype=np.float64))
    finite = data[np.isfinite(data)]
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    norm = math.log1p(vmax)
    with np.errstate(invalid="ignore"):
        t = np.log1p(np.clip(data, 0.0, vmax)) / norm
    picture = _colour(t)
    height = picture.shape[0]
    scale = 2 if height >= 160 else 1
    labels = [(v, "%.3g" % v) for v in _ticks(vmax)]
    label_width = max(_label(text, scale).shape[1] for _, text in labels)
    bar_width, gap = 8 * scale, 4 * scale
    panel = np.zeros((height, 2 * gap + bar_width + 2 * scale + label_width + gap, 3), np.uint8)
    levels = np.linspace(1.0, 0.0, height)[:, None]
    panel[:, gap:gap + bar_width] = _colour(np.repeat(levels, bar_width, axis=1))
    text_x = gap + bar_width + 2 * scale
    last_y = None
    for value, text in reversed(labels):                      # top (vmax) first
        y = round((1.0 - math.log1p(value) / norm) * (height - 1))
        glyph = _label(text, scale)
        top = min(max(y - glyph.shape[0] // 2, 0), height - glyph.shape[0])
        if top < 0 or (last_y is not None and top < last_y + glyph.shape[0] + scale):
            continue
        panel[y, gap + bar_width:text_x - scale] = 255
        panel[top:top + glyph.shape[0], text_x:text_x + glyph.shape[1]][glyph] = 255
        last_y = top
    return np.concatenate([picture, panel], axis=1)


def write_png(path: str | os.PathLike, image: np.ndarray, batch: OutputBatch | None = None) -> None:
    """Write the preview of ``image`` (float [slow, fast], photons) as a PNG, atomically
    (staged in ``batch`` when given)."""
    if image.ndim != 2:
        raise ValueError(f"float image must be 2-D, got shape {image.shape}")
    atomic_write(path, png_bytes(preview_rgb(image)), batch)
