"""Raw float image outputs: the C's ``-floatfile`` and a numpy ``.npy`` variant."""

from __future__ import annotations

import io
import os

import numpy as np

from nanobrag_torch.io.atomic import atomic_write


def write_floatfile(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` [slow, fast] as headerless little-endian float32, row-major (fast index
    varies fastest), exactly the C's floatfile; values in photons per pixel. Atomic."""
    if image.ndim != 2:
        raise ValueError(f"float image must be 2-D, got shape {image.shape}")
    atomic_write(path, np.ascontiguousarray(image, dtype="<f4").tobytes())


def write_npy(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` (any shape and dtype) in numpy ``.npy`` format, atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(image), allow_pickle=False)
    atomic_write(path, buffer.getvalue())
