"""Source list input (``-sourcefile``), after ``read_text_file`` in nanoBragg.c.

Each non-blank line is one source with up to five columns ``X Y Z weight lambda`` (metres;
weight unitless). Columns are separated by runs of any of the characters `` \\t,;:!`` (the C's
delimiter set); lines holding only delimiters are blank and skipped; columns after the fifth are
ignored, as in the C. A column missing on a line is NaN (the beam model fills the defaults).

Deliberate differences from the C, which turns every unparsable token into 0 (a header line
``# X Y Z weight lambda`` becomes a source with lambda 0 and a NaN image):
- a token among the first five that is not a number (``nan`` is accepted and means missing) or
  is infinite, and a file without sources, raise NanoBraggError naming file and line;
- missing columns stay NaN on a last line without a trailing newline and on CRLF lines (a
  trailing ``\\r`` is ignored); the C's tokenizer stores 0.0 in them instead (so lambda 0), and
  it makes a ``\\r\\n`` blank line a source at the origin.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import read_input

_DELIMITERS = " \t,;:!"
_SPLIT = re.compile("[" + re.escape(_DELIMITERS) + "]+")
# What C's atof accepts as a whole token (decimal forms, inf, nan), nothing more.
_NUMBER = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf(inity)?|nan)", re.IGNORECASE)
_COLUMNS = ("X", "Y", "Z", "weight", "lambda")


@dataclass(frozen=True, eq=False)
class SourceTable:
    """Sources as read from the file, one entry per source, NaN where a column is missing.

    X, Y, Z: source position (m), float64 [n_sources]; weight: relative intensity (unitless,
    read but unused by the C), float64 [n_sources]; lambda_m: wavelength (m), float64 [n_sources].
    """

    X: np.ndarray
    Y: np.ndarray
    Z: np.ndarray
    weight: np.ndarray
    lambda_m: np.ndarray

    @property
    def n_sources(self) -> int:
        """Number of sources (non-blank lines)."""
        return len(self.X)


def read_sources(path: str | os.PathLike) -> SourceTable:
    """Read a source file into a :class:`SourceTable` (no defaults applied).

    Raises:
        NanoBraggError: missing file, a non-numeric or infinite value in the first five
            columns (e.g. a ``#`` comment or header line), or no sources at all.
    """
    name = os.fspath(path)
    rows: list[list[float]] = []
    for lineno, line in enumerate(read_input(path).decode("latin-1").split("\n"), start=1):
        tokens = [t for t in _SPLIT.split(line.rstrip("\r")) if t]
        if not tokens:
            continue
        row = [math.nan] * len(_COLUMNS)
        for column, token in enumerate(tokens[: len(_COLUMNS)]):
            if not _NUMBER.fullmatch(token):
                shown = line.strip()[:60]
                raise NanoBraggError(
                    f"{name} line {lineno}: expected numbers 'X Y Z [weight [lambda]]', got "
                    f"'{shown}' (comment and header lines are not allowed)"
                )
            value = float(token)
            if math.isinf(value):
                raise NanoBraggError(
                    f"{name} line {lineno}: {_COLUMNS[column]} is infinite ('{token}')"
                )
            row[column] = value
        rows.append(row)
    if not rows:
        raise NanoBraggError(f"{name}: no sources found (expected lines of 'X Y Z weight lambda')")
    table = np.array(rows, dtype=np.float64)
    return SourceTable(*(table[:, i].copy() for i in range(len(_COLUMNS))))
