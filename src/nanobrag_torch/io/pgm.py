"""PGM (``-pgmfile``) output: binary P5 greyscale, one byte per pixel."""

from __future__ import annotations

import os

import numpy as np

from nanobrag_torch.io.atomic import OutputBatch, atomic_write


def pgm_header(width: int, height: int, pgm_scale: float) -> bytes:
    """The C's header: ``"P5\\n%d %d\\n# pixels scaled by %lg\\n255\\n"`` (width = fast)."""
    return b"P5\n%d %d\n# pixels scaled by %s\n255\n" % (width, height,
                                                          ("%g" % pgm_scale).encode("ascii"))


def write_pgm(path: str | os.PathLike, image: np.ndarray, pgm_scale: float,
              batch: OutputBatch | None = None) -> None:
    """Write ``image`` (uint8 [slow, fast], from :func:`nanobrag_torch.noise.pgm_image`) as a
    P5 PGM whose comment records ``pgm_scale`` (counts per photon), atomically (staged in
    ``batch`` when given)."""
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"PGM image must be 2-D uint8, got {image.dtype} {image.shape}")
    height, width = image.shape
    atomic_write(path, (pgm_header(width, height, pgm_scale),
                        memoryview(np.ascontiguousarray(image)).cast("B")), batch)
