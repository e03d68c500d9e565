"""Amorphous-scattering tables (``-stol``, ``-4stol``, ``-Q``): text files of ``x F`` rows.

The upstream tables (water, air, ice, nanoice, shortwater, unity; bl831/nanoBragg, MIT licence,
see ``nanobrag_torch/data/stol/README.md``) ship with the package and are found by name:
``-stol water`` reads ``data/stol/water.stol`` unless a file ``water`` exists.

Two readings (``quirks``):

- ``c``: nonBragg.c's ``read_text_file`` (lines 2201-2296). Every line that is not blank
  (only the delimiters `` \\t,;:!``) is a row; the first two delimiter-separated tokens are read
  with ``atof`` (a non-number is 0), so a ``#`` comment line is a row (0, 0); a missing F is NaN
  (the table model turns it into 0); on a last line without a newline a missing F is 0 (the C's
  tokenizer runs past the end). A line whose first token is neither a number nor a ``#``
  comment, or whose F token is not a number, is refused (the C would read 0 there).
- ``fixed``: ``#`` lines are comments and skipped; each row needs two numbers (more columns
  are ignored).

Both refuse a missing/unreadable file, non-finite values and fewer than two rows.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import read_input

TABLE_DIR = Path(__file__).resolve().parents[1] / "data" / "stol"
BUILTIN_TABLES = ("water", "air", "ice", "nanoice", "shortwater", "unity")
_DELIMITERS = " \t,;:!"
_SPLIT = re.compile("[" + re.escape(_DELIMITERS) + "]+")
_NUMBER = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf(inity)?|nan)", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class StolTable:
    """Rows of a table file in file order: ``x`` (first column, file units: stol in 1/A, 4*stol
    or Q) and ``F`` (NaN where missing), float64 [rows]; ``name``: the path read;
    ``comment_rows``: rows that came from ``#`` lines (c reading)."""

    name: str
    x: np.ndarray
    F: np.ndarray
    comment_rows: int = 0

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


def _locate(name: str | os.PathLike) -> tuple:
    """(path, its stat or None): a user file when it exists (one stat), else a packaged
    upstream table (``water`` or ``water.stol``; not stat'ed: installed with the code, it
    stays as it is for the process), else the name (stat None: missing)."""
    text = os.fspath(name)
    if os.access(text, os.F_OK):        # (a missing file: no exception, ~1.5 -> 0.7 us)
        try:
            return text, os.stat(text)
        except OSError:                 # removed in between
            pass
    return _BUILTIN_PATHS.get(text[:-5] if text.endswith(".stol") else text, text), None


_BUILTIN_PATHS = {stem: str(TABLE_DIR / f"{stem}.stol") for stem in BUILTIN_TABLES}
_PACKAGED = frozenset(_BUILTIN_PATHS.values())


def read_stol(name: str | os.PathLike, quirks: str = "c") -> StolTable:
    """Read a table file (path or packaged name) as nonBragg.c does (``c``) or strictly.
    Parsed tables are cached per (file, size, modification time, quirks); the packaged ones
    per (name, quirks).

    Raises:
        NanoBraggError: missing file, a malformed row (named by line), a non-finite value,
            or fewer than two rows.
    """
    path, st = _locate(name)
    if st is not None:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, quirks)
    else:
        key = (path, quirks) if path in _PACKAGED else None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    table = _parse(path, read_input(path).decode("latin-1"), quirks)
    if key is not None:
        if len(_CACHE) >= 16:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = table
    return table


_CACHE: dict = {}


def _parse(path: str, text: str, quirks: str) -> StolTable:
    """Rows of ``text`` (the file ``path``) as described in the module doc."""
    lines = text.split("\n")
    rows, comments = [], 0
    for lineno, line in enumerate(lines, start=1):
        last = lineno == len(lines)
        body = line.rstrip("\r")
        tokens = [t for t in _SPLIT.split(body) if t]
        if not tokens:
            # the C counts a whitespace-only last line without newline as a row of zeros
            if quirks == "c" and last and line and line.strip(_DELIMITERS) == "":
                rows.append((0.0, 0.0))
            continue
        if tokens[0].startswith("#"):
            if quirks == "c":
                rows.append((0.0, 0.0))
                comments += 1
            continue
        for token in tokens[:2]:
            if not _NUMBER.fullmatch(token):
                raise NanoBraggError(f"{path} line {lineno}: expected 'stol F' numbers, got "
                                     f"'{body.strip()[:60]}'")
        x = float(tokens[0])
        if len(tokens) >= 2:
            F = float(tokens[1])
        elif quirks == "fixed":
            raise NanoBraggError(f"{path} line {lineno}: row has no F value ('{body.strip()[:60]}')")
        else:
            F = 0.0 if last else math.nan
        if math.isinf(x) or math.isinf(F) or math.isnan(x):
            raise NanoBraggError(f"{path} line {lineno}: values must be finite numbers")
        rows.append((x, F))
    if len(rows) < 2:
        raise NanoBraggError(f"{path}: a table needs at least two 'stol F' rows, found {len(rows)}")
    data = np.array(rows, dtype=np.float64)
    return StolTable(name=path, x=data[:, 0].copy(), F=data[:, 1].copy(), comment_rows=comments)
