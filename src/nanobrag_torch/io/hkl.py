"""Structure-factor input: ``h k l F`` text files and nanoBragg's ``Fdump.bin`` binary format.

Semantics follow the HKL block of nanoBragg.c: the table spans the min..max of each Miller
index found in the file; when ``default_F`` is non-zero every cell is pre-filled with it (so
reflections missing from the file get ``default_F``), otherwise with 0; a later line for the
same ``h k l`` overwrites an earlier one.

Stricter than the C (which stops reading silently at the first token it cannot parse): every
non-blank line must hold exactly four numbers, the indices must be integer-valued (``3`` or
``3.0``) and F finite, otherwise a NanoBraggError names the file and line.

`read_structure_factors` is the one reader of a render's structure factors: an ``h k l F``
file, an Fdump, or an MTZ column / atomic model (read by `io.mtz` / `io.structure`) expanded
to the P1 list by `physics.reflections`.
"""

from __future__ import annotations

import io
import itertools
import os
import warnings
from dataclasses import dataclass

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import OutputBatch, atomic_write, read_input
from nanobrag_torch.io.mtz import MtzFile, read_mtz
from nanobrag_torch.io.structure import ModelFile, read_model
from nanobrag_torch.physics.reflections import P1Reflections, expand_p1, p1_from_atoms, reciprocal_metric

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


def _linenos(lines: list[str]) -> np.ndarray:
    """Line numbers (1-based) of the non-blank lines: the rows of `_parse_rows`."""
    return np.asarray([i + 1 for i, line in enumerate(lines) if line.split()], dtype=np.int64)


def _row_error(name: str, text: str, row: int, problem: str) -> NanoBraggError:
    """`_line_error` for row `row` of `_parse_rows` (its line found only now: errors only)."""
    lines = text.split("\n")
    lineno = int(_linenos(lines)[row])
    return _line_error(name, lineno, lines[lineno - 1], problem)


def _parse_rows(name: str, text: str) -> np.ndarray:
    """Return values [n, 4] float64 of the non-blank lines of `text`, each 'h k l F'.

    numpy's C reader takes a well-formed file (~25 ms for 36k rows, against ~60 ms by
    splitting in Python); anything it declines is read line by line, which names the first
    bad line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")                      # e.g. "input contained no data"
            values = np.loadtxt(io.StringIO(text), dtype=np.float64, comments=None, ndmin=2)
        if values.shape[1] == 4:
            return values
    except (ValueError, UserWarning):
        pass
    lines = text.split("\n")
    linenos = _linenos(lines)
    rows = [lines[i - 1].split() for i in linenos]
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
    return values.reshape(-1, 4)


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
    text = read_input(path).decode("latin-1")
    values = _parse_rows(name, text)
    if len(values) == 0:
        raise NanoBraggError(f"{name}: no reflections found (expected lines of 'h k l F')")

    hkl = values[:, :3]
    bad = ~(np.isfinite(hkl).all(axis=1) & (hkl == np.round(hkl)).all(axis=1)
            & (np.abs(hkl) < 2**31 - 1).all(axis=1))
    if bad.any():
        raise _row_error(name, text, int(np.argmax(bad)), "Miller indices must be integers")
    bad = ~np.isfinite(values[:, 3])
    if bad.any():
        raise _row_error(name, text, int(np.argmax(bad)), "F must be a finite number")

    return table_from_reflections(name, hkl.astype(np.int64), values[:, 3], default_F)


def table_from_reflections(name: str, idx: np.ndarray, F: np.ndarray,
                           default_F: float) -> HKLTable:
    """The dense table of the reflections `idx` [n, 3] (int) with amplitudes `F` [n], as
    nanoBragg.c builds it from an ``h k l F`` file: spanning min..max of each index, other
    cells ``default_F``, a later row for the same index overwriting an earlier one.
    `name` names the source in errors."""
    lo = idx.min(axis=0)
    hi = idx.max(axis=0)
    shape = tuple(int(n) for n in hi - lo + 1)
    if shape[0] * shape[1] * shape[2] > _MAX_CELLS:
        raise NanoBraggError(
            f"{name}: Miller index range h {lo[0]}..{hi[0]}, k {lo[1]}..{hi[1]}, "
            f"l {lo[2]}..{hi[2]} is too large for a dense table"
        )

    table = np.full(shape, float(default_F) if default_F != 0.0 else 0.0, dtype=np.float64)
    flat = np.ravel_multi_index(tuple((idx - lo).T), shape)
    # Later lines win: keep the last occurrence of every flat index (numpy does not guarantee
    # an order for repeated indices in one fancy assignment).
    _, first_in_reversed = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - first_in_reversed
    table.reshape(-1)[flat[last]] = F[last]

    return HKLTable(int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1]), int(lo[2]), int(hi[2]),
                    table, len(F))


def write_hkl(path: str | os.PathLike, hkl: np.ndarray, F: np.ndarray,
              batch: OutputBatch | None = None) -> None:
    """Write reflections `hkl` [n, 3] with amplitudes `F` [n] as an ``h k l F`` text file
    nanoBragg.c reads (F with 10 significant digits; atomically, or staged in `batch`)."""
    lines = [f"{h} {k} {l} {f:.10g}\n" for (h, k, l), f in zip(np.asarray(hkl).tolist(),
                                                              np.asarray(F).tolist())]
    atomic_write(path, "".join(lines).encode("ascii"), batch)


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
    atomic_write(path, (header.encode("ascii"), memoryview(padded).cast("B")), batch)


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


def read_structure_factors(hklfile: str | FdumpFile | MtzFile | ModelFile | None, default_F: float,
                           dmin_A: float | None = None) -> HKLTable | None:
    """The table of an ``h k l F`` file (path), of an Fdump binary (`FdumpFile`, the C's
    ``-dump`` format; every cell counts as an entry, as in the C), of an MTZ column or an
    atomic model expanded to P1 (`MtzFile`, `ModelFile`; see `p1_reflections`, `dmin_A` the
    detector-corner resolution in A), or None."""
    if hklfile is None:
        return None
    if isinstance(hklfile, FdumpFile):
        return read_fdump(hklfile.path)
    if isinstance(hklfile, (MtzFile, ModelFile)):
        refl = p1_reflections(hklfile, dmin_A)
        return table_from_reflections(hklfile.path, refl.hkl, refl.F, default_F)
    return _cached(hklfile, (default_F,), lambda: read_hkl(hklfile, default_F))


def p1_reflections(source: MtzFile | ModelFile, dmin_A: float | None = None) -> P1Reflections:
    """The P1 list of an MTZ column (expanded by its space group's operators with Friedel
    mates), or of a model: to its own ``dmin_A``, else to the detector-corner resolution
    `dmin_A` (A) lowered so that the nearest-index rounding and the 4-point interpolation
    stencil (two reflections further along each axis) stay inside."""
    if isinstance(source, MtzFile):
        def load_mtz() -> P1Reflections:
            col = read_mtz(source.path, source.column)
            hkl, F = expand_p1(col.hkl, col.F, col.rotations)
            return P1Reflections(hkl, F, col.cell, f"{col.source} -> {len(F)} in P1")
        return _cached(source.path, ("mtz", source.column), load_mtz)
    if source.dmin_A <= 0 and not (dmin_A and dmin_A > 0):
        raise NanoBraggError(f"{source.path}: no resolution limit for the model (-model_dmin)")

    def load_model() -> P1Reflections:
        model = read_model(source.path)
        d = source.dmin_A
        if d <= 0:
            margin = 2.0 * float(np.sqrt(np.diag(reciprocal_metric(model.cell))).sum())
            d = 1.0 / (1.0 / dmin_A + margin)
        return p1_from_atoms(model, d)
    return _cached(source.path, ("model", source.dmin_A, dmin_A), load_model)


def _cached(path: str, extra: tuple, load):
    """`load()`, remembered per process for an unchanged file (path, size, mtime) and `extra`:
    repeated renders (benchmarks, many-shot jobs, refinement loops) read a large reflection
    file once."""
    st = os.stat(path) if os.path.exists(path) else None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, extra) if st else None
    if key is None or key not in _HKL_CACHE:
        value = load()
        if key is not None:
            _HKL_CACHE.clear()                  # keep one table: bounded memory
            _HKL_CACHE[key] = value
        return value
    return _HKL_CACHE[key]
