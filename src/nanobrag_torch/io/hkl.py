"""Structure-factor input: ``h k l F`` text files and nanoBragg's ``Fdump.bin`` binary format.

Semantics follow the HKL block of nanoBragg.c: the table spans the min..max of each Miller
index found in the file; when ``default_F`` is non-zero every cell is pre-filled with it (so
reflections missing from the file get ``default_F``), otherwise with 0; a later line for the
same ``h k l`` overwrites an earlier one.

Stricter than the C (which stops reading silently at the first token it cannot parse): every
non-blank line must hold exactly four numbers, the indices must be integer-valued (``3`` or
``3.0``) and F finite, otherwise a NanoBraggError names the file and line.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import OutputBatch, atomic_write, read_input

# Refuse tables larger than this many cells (8 GiB of float64): almost surely a bad index.
_MAX_CELLS = 1 << 30


@dataclass(frozen=True, eq=False)
class HKLTable:
    """Dense structure-factor table.

    ``F[h - h_min, k - k_min, l - l_min]`` is the amplitude |F| (electrons, unitless) of
    reflection ``(h, k, l)``; shape ``[h_max-h_min+1, k_max-k_min+1, l_max-l_min+1]``, float64.
    ``n_entries`` is the C's ``hkls``: data lines read (duplicates included), or the number of
    cells for a table loaded from ``Fdump.bin``.
    """

    h_min: int
    h_max: int
    k_min: int
    k_max: int
    l_min: int
    l_max: int
    F: np.ndarray
    n_entries: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(h_range, k_range, l_range): number of distinct h, k, l values the table spans."""
        return (self.h_max - self.h_min + 1, self.k_max - self.k_min + 1,
                self.l_max - self.l_min + 1)


@dataclass(frozen=True)
class FdumpFile:
    """A structure-factor input given as an ``Fdump`` binary (``-dump FILE`` without ``-hkl``)
    rather than an ``h k l F`` text file; ``path`` names the file."""

    path: str


def _line_error(name: str, lineno: int, line: str, problem: str) -> NanoBraggError:
    shown = line.strip()
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return NanoBraggError(f"{name} line {lineno}: {problem}, got '{shown}'")


def _parse_rows(name: str, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return (values [n, 4] float64, line numbers [n]) for the non-blank lines."""
    split = [line.split() for line in lines]
    linenos = [i + 1 for i, tokens in enumerate(split) if tokens]
    rows = [split[i - 1] for i in linenos]
    for lineno, tokens in zip(linenos, rows):
        if len(tokens) != 4:
            raise _line_error(name, lineno, lines[lineno - 1], "expected 'h k l F'")
    try:
        values = np.array(list(itertools.chain.from_iterable(rows)), dtype=np.float64)
    except ValueError:
        # Slow path, only taken for a bad file: convert line by line to name the bad line.
        converted = []
        for lineno, tokens in zip(linenos, rows):
            try:
                converted.extend(float(t) for t in tokens)
            except ValueError:
                raise _line_error(
                    name, lineno, lines[lineno - 1], "expected 'h k l F' (4 numbers)"
                ) from None
        values = np.array(converted, dtype=np.float64)
    return values.reshape(-1, 4), np.asarray(linenos, dtype=np.int64)


def read_hkl(path: str | os.PathLike, default_F: float) -> HKLTable:
    """Read a P1 ``h k l F`` text file into a dense :class:`HKLTable`.

    Args:
        path: text file, one reflection per line, whitespace separated; blank lines skipped.
        default_F: fill value for cells absent from the file (the C pre-fills only when it is
            non-zero, which amounts to the same thing).

    Raises:
        NanoBraggError: missing/unreadable file, no reflections, a line that is not four
            numbers, a non-integer Miller index, a non-finite F, or an absurd index range.
    """
    name = os.fspath(path)
    lines = read_input(path).decode("latin-1").split("\n")
    values, linenos = _parse_rows(name, lines)
    if len(values) == 0:
        raise NanoBraggError(f"{name}: no reflections found (expected lines of 'h k l F')")

    hkl = values[:, :3]
    bad = ~(np.isfinite(hkl).all(axis=1) & (hkl == np.round(hkl)).all(axis=1)
            & (np.abs(hkl) < 2**31 - 1).all(axis=1))
    if bad.any():
        lineno = int(linenos[np.argmax(bad)])
        raise _line_error(name, lineno, lines[lineno - 1], "Miller indices must be integers")
    bad = ~np.isfinite(values[:, 3])
    if bad.any():
        lineno = int(linenos[np.argmax(bad)])
        raise _line_error(name, lineno, lines[lineno - 1], "F must be a finite number")

    idx = hkl.astype(np.int64)
    lo = idx.min(axis=0)
    hi = idx.max(axis=0)
    shape = tuple(int(n) for n in hi - lo + 1)
    if shape[0] * shape[1] * shape[2] > _MAX_CELLS:
        raise NanoBraggError(
            f"{name}: Miller index range h {lo[0]}..{hi[0]}, k {lo[1]}..{hi[1]}, "
            f"l {lo[2]}..{hi[2]} is too large for a dense table"
        )

    F = np.full(shape, float(default_F) if default_F != 0.0 else 0.0, dtype=np.float64)
    flat = np.ravel_multi_index(tuple((idx - lo).T), shape)
    # Later lines win: keep the last occurrence of every flat index (numpy does not guarantee
    # an order for repeated indices in one fancy assignment).
    _, first_in_reversed = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - first_in_reversed
    F.reshape(-1)[flat[last]] = values[last, 3]

    return HKLTable(int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1]), int(lo[2]), int(hi[2]),
                    F, len(values))


def write_fdump(path: str | os.PathLike, table: HKLTable, batch: OutputBatch | None = None) -> None:
    """Write ``table`` in the C's ``Fdump.bin`` format (atomically; staged in ``batch`` when given).

    Layout: the text ``"%d %d %d %d %d %d\\n\\f"`` (h_min h_max k_min k_max l_min l_max), then
    ``(h_range+1)*(k_range+1)`` blocks of ``l_range+1`` little-endian float64, h slowest; the
    extra last plane of each dimension is zero (the C allocates one more than it fills).
    """
    hr, kr, lr = table.shape
    padded = np.zeros((hr + 1, kr + 1, lr + 1), dtype="<f8")
    padded[:hr, :kr, :lr] = table.F
    header = "%d %d %d %d %d %d\n\f" % (
        table.h_min, table.h_max, table.k_min, table.k_max, table.l_min, table.l_max)
    atomic_write(path, header.encode("ascii") + padded.tobytes(), batch)


def read_fdump(path: str | os.PathLike) -> HKLTable:
    """Read an ``Fdump.bin`` written by nanoBragg or :func:`write_fdump`.

    The binary block starts right after the ``"\\n\\f"`` that ends the text line. (The C reads
    the header with ``fscanf("%d...%d\\n\\f")``, which would also swallow leading data bytes
    that happen to be whitespace characters; this reader does not.)

    Raises:
        NanoBraggError: missing file, malformed header, wrong data length, or a non-finite F.
    """
    name = os.fspath(path)
    data = read_input(path)
    end = data.find(b"\n\f")
    try:
        if end < 0:
            raise ValueError
        h_min, h_max, k_min, k_max, l_min, l_max = (int(t) for t in data[:end].split())
    except ValueError:
        raise NanoBraggError(
            f"{name}: not an Fdump file (expected 'h_min h_max k_min k_max l_min l_max' then "
            "binary data)"
        ) from None
    shape = (h_max - h_min + 1, k_max - k_min + 1, l_max - l_min + 1)
    if min(shape) < 1 or shape[0] * shape[1] * shape[2] > _MAX_CELLS:
        raise NanoBraggError(f"{name}: invalid index ranges in Fdump header")
    padded_shape = tuple(n + 1 for n in shape)
    expected = 8 * padded_shape[0] * padded_shape[1] * padded_shape[2]
    body = data[end + 2:]
    if len(body) != expected:
        raise NanoBraggError(
            f"{name}: Fdump data is {len(body)} bytes, expected {expected} for the header's ranges"
        )
    padded = np.frombuffer(body, dtype="<f8").reshape(padded_shape)
    F = padded[: shape[0], : shape[1], : shape[2]].astype(np.float64)
    if not np.isfinite(F).all():
        raise NanoBraggError(f"{name}: Fdump holds non-finite structure factors")
    return HKLTable(h_min, h_max, k_min, k_max, l_min, l_max, F,
                    shape[0] * shape[1] * shape[2])


_HKL_CACHE: dict = {}


def read_structure_factors(hklfile: str | FdumpFile | None, default_F: float) -> HKLTable | None:
    """The table of an ``h k l F`` file (path), of an Fdump binary (`FdumpFile`, the C's
    ``-dump`` format; every cell counts as an entry, as in the C), or None."""
    if hklfile is None:
        return None
    if isinstance(hklfile, FdumpFile):
        return read_fdump(hklfile.path)
    return _read_hkl_cached(hklfile, default_F)


def _read_hkl_cached(path: str, default_F: float) -> HKLTable:
    """read_hkl, remembered per process for an unchanged file (path, size, mtime): repeated
    renders (benchmarks, many-shot jobs, refinement loops) parse a large HKL list once."""
    st = os.stat(path) if os.path.exists(path) else None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, default_F) if st else None
    if key is None or key not in _HKL_CACHE:
        table = read_hkl(path, default_F)
        if key is not None:
            _HKL_CACHE.clear()                  # keep one table: bounded memory
            _HKL_CACHE[key] = table
        return table
    return _HKL_CACHE[key]
