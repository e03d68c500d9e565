"""nearBragg atom lists: one point scatterer per line, ``X Y Z [occupancy [B [phase]]]``
(Angstrom, Angstrom^2, degrees; defaults occupancy 1, B 0, phase -90 deg).

``read_atoms(path, quirks)`` reads the file the way nearBragg.c does (``quirks="c"``: its
``fgets``/``strspn``/``atof`` tokenizer, lines 457-835, every consequence kept) or strictly
(``quirks="fixed"``): comment lines (first non-separator character ``#``) and blank lines
are skipped and every other line must hold 3 to 6 numbers, else a one-line error naming the
file and line.  In both modes a missing file and non-finite values are errors.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import read_input
from nanobrag_torch.io.smv import _atof

DELIMITERS = b" \t\r,;:!"          # line 50
NUMBERSTUF = b"0123456789-+.EGeg"  # line 51
FGETS_BUFFER = 1024                # line 48: fgets reads at most 1023 characters
DEFAULTS = (0.0, 0.0, 0.0, 1.0, 0.0, -90.0)   # X Y Z O B P (756-759)


@dataclass(frozen=True)
class AtomList:
    """Parsed atom file.  ``values``: float64 [M, 6] = X, Y, Z (A), occupancy, B (A^2),
    phase (deg) as written in the file; ``blank_at``: for each line skipped as blank, the
    number of atoms read before it (where nearBragg.c's ``-debug`` prints "blank")."""

    values: np.ndarray
    blank_at: tuple

    @property
    def blank_lines(self) -> int:
        return len(self.blank_at)

    @property
    def count(self) -> int:
        return int(self.values.shape[0])

    def extent_A(self) -> float:
        """Largest of the x, y, z extents (max - min) in A, 0 for an empty list (837-843)."""
        if not self.count:
            return 0.0
        xyz = self.values[:, :3]
        return float((xyz.max(axis=0) - xyz.min(axis=0)).max())


def _c_lines(raw: bytes) -> list:
    """The strings ``fgets`` returns (split at newlines and every 1023 bytes), each cut at
    its first NUL as the C string functions see it."""
    lines, pos = [], 0
    while pos < len(raw):
        nl = raw.find(b"\n", pos, pos + FGETS_BUFFER - 1)
        end = nl + 1 if nl >= 0 else min(pos + FGETS_BUFFER - 1, len(raw))
        lines.append(raw[pos:end].split(b"\0", 1)[0])
        pos = end
    return lines


def _span(text: bytes, i: int, chars: bytes) -> int:
    """strspn from position i."""
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _cspan(text: bytes, i: int, chars: bytes) -> int:
    """strcspn from position i."""
    while i < len(text) and text[i] not in chars:
        i += 1
    return i


def _c_atom(line: bytes) -> list | None:
    """One line through the C tokenizer (761-814): None if blank, else [X Y Z O B P]."""
    i = _span(line, 0, DELIMITERS)
    if line[i:] == b"\n":
        return None
    values = list(DEFAULTS)
    for column in range(6):
        values[column] = _atof(line[i:].decode("latin-1"))
        if column == 5:
            break
        i = _span(line, i, NUMBERSTUF)
        if line[i:] == b"\n":
            break
        i = _span(line, _cspan(line, i, DELIMITERS), DELIMITERS)
        if line[i:] == b"\n":
            break
    return values


_FIXED_SPLIT = re.compile(rb"[ \t\r\n,;:!]+")


def _fixed_atom(line: bytes, name: str, number: int) -> list | None:
    """One line, strictly: None for blank or comment lines, else 3-6 numbers."""
    tokens = [t for t in _FIXED_SPLIT.split(line) if t]
    if not tokens or tokens[0].startswith(b"#"):
        return None
    if not 3 <= len(tokens) <= 6:
        raise NanoBraggError(f"{name} line {number}: expected 3 to 6 numbers "
                             f"(X Y Z [occupancy [B [phase]]]), got {len(tokens)} fields")
    values = list(DEFAULTS)
    for column, token in enumerate(tokens):
        try:
            values[column] = float(token.decode("latin-1"))
        except ValueError:
            raise NanoBraggError(f"{name} line {number}: '{token.decode('latin-1')}' is not "
                                 "a number") from None
    return values


def read_atoms(path: str | os.PathLike, quirks: str = "c") -> AtomList:
    """Read an atom file (see the module docstring).

    Raises:
        NanoBraggError: missing or unreadable file; a non-finite value; in ``fixed`` mode
            also a malformed line or a file with no atom.
    """
    name = os.fspath(path)
    raw = read_input(path)
    rows, blank = [], []
    if quirks == "c":
        lines = _c_lines(raw)
    else:
        lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        values = _c_atom(line) if quirks == "c" else _fixed_atom(line, name, number)
        if values is None:
            blank.append(len(rows))
            continue
        if not all(math.isfinite(v) for v in values):
            raise NanoBraggError(f"{name} line {number}: non-finite atom value "
                                 f"({' '.join('%g' % v for v in values)})")
        rows.append(values)
    if quirks != "c" and not rows:
        raise NanoBraggError(f"{name}: no atoms in the file")
    values = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return AtomList(values, tuple(blank))
