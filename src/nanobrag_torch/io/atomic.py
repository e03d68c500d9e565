"""Checked file access for the readers and writers.

``atomic_write``: an output file appears under its final name complete or not at all.
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


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the target's directory, are flushed to disk and the
    temporary file is then renamed onto ``path`` with :func:`os.replace` (atomic on POSIX and
    Windows within one file system). A crash or error never leaves a partial file under the
    final name; an existing file is replaced only on success.

    Raises:
        NanoBraggError: the directory does not exist or is not writable, or the write failed;
            the message names ``path``.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise NanoBraggError(f"{target}: cannot write output file: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise NanoBraggError(f"{target}: cannot write output file: {exc.strerror or exc}") from exc


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
