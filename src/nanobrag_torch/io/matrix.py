"""MOSFLM-style orientation matrix input (``-mat``).

The C reads three times ``fscanf("%lg%lg%lg", a_star+i, b_star+i, c_star+i)``: the first nine
whitespace-separated numbers of the file, where line i holds component i (x, y, z) of a*, b*
and c*. Anything after the ninth number (a MOSFLM file's U matrix, cell, ...) is ignored.
"""

from __future__ import annotations

import math
import os

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import read_input


def read_mat(path: str | os.PathLike) -> np.ndarray:
    """Return the reciprocal cell vectors stored in a MOSFLM A-matrix file.

    Returns:
        float64 array [3, 3]; rows are a*, b*, c* and columns their x, y, z components, in the
        file's units (a MOSFLM A matrix is reciprocal Angstrom times the wavelength; the caller
        applies the C's ``1e-10/lambda0`` scaling).

    Raises:
        NanoBraggError: missing file, fewer than nine numbers, a non-numeric or non-finite
            value among the first nine (the message names the file and line), or vectors
            that span no cell (zero or non-finite reciprocal volume).
    """
    name = os.fspath(path)
    numbers: list[float] = []
    for lineno, line in enumerate(read_input(path).decode("latin-1").split("\n"), start=1):
        for token in line.split():
            try:
                value = float(token)
            except ValueError:
                raise NanoBraggError(
                    f"{name} line {lineno}: expected a number of the A matrix, got '{token[:40]}'"
                ) from None
            if not math.isfinite(value):
                raise NanoBraggError(f"{name} line {lineno}: A matrix element is '{token}'")
            numbers.append(value)
            if len(numbers) == 9:
                # File rows are components (x, y, z); transpose to one row per vector.
                recip = np.array(numbers, dtype=np.float64).reshape(3, 3).T.copy()
                volume = abs(float(np.linalg.det(recip)))
                if not (volume > 0 and np.isfinite(1.0 / volume)):
                    raise NanoBraggError(f"{name}: singular A matrix (a*, b*, c* do not span a "
                                         "reciprocal cell)")
                return recip
    raise NanoBraggError(
        f"{name}: found {len(numbers)} numbers, expected 9 (3 lines of a*, b*, c* components)"
    )
