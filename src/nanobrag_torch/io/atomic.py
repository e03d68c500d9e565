"""Checked file access for the readers and writers.

``OutputBatch`` / ``atomic_write``: output files appear under their final names complete or
not at all; ``check_output_path``: refuse an unwritable output before rendering.
``read_input``: read an input file, turning OS errors into a one-line NanoBraggError.
"""

from __future__ import annotations

import os
import tempfile

from nanobrag_torch.errors import NanoBraggError

# Read the process umask once (os.umask can only be read by setting it); mkstemp creates 0600
# files, and outputs should get the permissions a plain open() would give them.
_UMASK = os.umask(0)
os.umask(_UMASK)


class OutputBatch:
    """Output files that appear together or not at all.

    :meth:`add` writes each file's bytes to a hidden temporary file in its target's directory
    (with ``durable``, flushed to disk before the rename, so that after a power failure a
    file is there whole or not at all: the dataset runner's resumable outputs; without, the
    data reaches the disk when the system writes it back, as with the C programs' files,
    which saves a ``-batch`` of 100 1024^2 renders its 600 MB of synchronous writes);
    :meth:`commit` renames them all onto their final names with
    :func:`os.replace` (atomic per file on POSIX and Windows); :meth:`discard` removes them.
    As a context manager: commit on success, discard on any exception, so an error never
    leaves a partial or temporary file behind. An existing file is replaced only on commit:
    with ``durable``, atomically; without, it is removed just before the new file is renamed
    into place (a reader may find no file for that moment, never a partial one), because ext4
    writes a file's data out when it is renamed over an existing file (its ``auto_da_alloc``
    guard for this very pattern): ~2 ms more per file here, for data that, without
    ``durable``, need not reach the disk yet.
    """

    def __init__(self, durable: bool = True) -> None:
        self._staged: list[tuple[str, str]] = []       # (temporary path, target path)
        self._durable = durable

    def __enter__(self) -> "OutputBatch":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def add(self, path: str | os.PathLike, data: bytes | memoryview | tuple) -> None:
        """Stage ``data`` (bytes-like, or a tuple of them written one after the other: a
        header and the pixels without joining them into one copy) for ``path``.

        Raises:
            NanoBraggError: the directory does not exist or is not writable, or the write
                failed; the message names ``path``.
        """
        target = os.fspath(path)
        check_output_path(target)
        directory = os.path.dirname(os.path.abspath(target))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise _write_error(target, exc) from exc
        self._staged.append((tmp, target))
        try:
            with os.fdopen(fd, "wb") as handle:
                for part in data if isinstance(data, tuple) else (data,):
                    handle.write(part)
                if self._durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)
        except OSError as exc:
            raise _write_error(target, exc) from exc

    def commit(self) -> None:
        """Rename every staged file onto its target, in the order added."""
        try:
            while self._staged:
                tmp, target = self._staged[0]
                try:
                    if not self._durable and os.path.isfile(target):
                        os.unlink(target)
                    os.replace(tmp, target)
                except OSError as exc:
                    raise _write_error(target, exc) from exc
                self._staged.pop(0)
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove every staged temporary file."""
        for tmp, _ in self._staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self._staged.clear()


def _write_error(target: str, exc: OSError) -> NanoBraggError:
    return NanoBraggError(f"{target}: cannot write output file: {exc.strerror or exc}")


def check_output_path(path: str | os.PathLike) -> None:
    """Refuse an output path that cannot be written (checked before rendering).

    Raises:
        NanoBraggError: ``path`` is empty, a directory or an existing non-regular file (a
            device such as /dev/null or a FIFO: the rename into place would replace it), or its
            directory is missing or not writable; the message names ``path``.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target)) if target else ""
    if not target or os.path.isdir(target):
        problem = "is a directory" if target else "empty file name"
    elif os.path.exists(target) and not os.path.isfile(target):
        problem = "not a regular file (outputs are renamed into place)"
    elif not os.path.isdir(directory):
        problem = f"directory {directory} does not exist"
    elif not os.access(directory, os.W_OK | os.X_OK):
        problem = f"directory {directory} is not writable"
    else:
        return
    raise NanoBraggError(f"{target}: cannot write output file: {problem}")


def atomic_write(path: str | os.PathLike, data: bytes | memoryview | tuple,
                 batch: OutputBatch | None = None) -> None:
    """Write ``data`` (as `OutputBatch.add` takes it) to ``path`` atomically: staged into
    ``batch`` (renamed when the batch commits), or on its own when ``batch`` is None.

    Raises:
        NanoBraggError: as :meth:`OutputBatch.add`.
    """
    if batch is not None:
        batch.add(path, data)
        return
    with OutputBatch() as single:
        single.add(path, data)


def read_input(path: str | os.PathLike) -> bytes:
    """Return the whole content of input file ``path``.

    Raises:
        NanoBraggError: the file is missing, is a directory or cannot be read; the message
            names ``path``.
    """
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise NanoBraggError(f"{os.fspath(path)}: cannot read: {exc.strerror or exc}") from exc
