"""Raw float image outputs: the C's ``-floatfile`` and a numpy ``.npy`` variant."""

from __future__ import annotations

import io
import os

import numpy as np

from nanobrag_torch.io.atomic import OutputBatch, atomic_write


def write_floatfile(path: str | os.PathLike, image: np.ndarray,
                    batch: OutputBatch | None = None) -> None:
    """Write ``image`` [slow, fast] as headerless little-endian float32, row-major (fast index
    varies fastest), exactly the C's floatfile; values in photons per pixel. Atomic (staged in
    ``batch`` when given)."""
    if image.ndim != 2:
        raise ValueError(f"float image must be 2-D, got shape {image.shape}")
    pixels = np.ascontiguousarray(image, dtype="<f4")
    atomic_write(path, memoryview(pixels).cast("B"), batch)     # no copy of the pixels


def write_npy(path: str | os.PathLike, image: np.ndarray, batch: OutputBatch | None = None) -> None:
    """Write ``image`` (any shape and dtype) in numpy ``.npy`` format, atomically (staged in
    ``batch`` when given)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(image), allow_pickle=False)
    atomic_write(path, buffer.getvalue(), batch)
