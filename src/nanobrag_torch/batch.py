"""``nanoBragg -batch FILE``: many runs of the command line in one process.

Each line of FILE that is not empty and does not start with ``#`` holds the flags of one run,
as typed after ``nanoBragg`` (shell quoting rules, no variable expansion). The runs share the
process: torch and the package are imported once, HKL files are parsed once
(`models.structure_factors` caches them by path, size and mtime) and a compiled kernel is
loaded once per kind of render (under ``NANOBRAG_COMPILE=auto``, when the file's lines together
are worth a build, a kind the numba step sum covers renders on it and its package is built at
exit; other kinds start their background build at the first line and the later lines use the
package as soon as it is ready; see `compile_policy`). Each line's summary and files are
written on a thread while the next lines render (their printed statistics without the C's
sequential sums where that is proven to print the same, `printed_stats`; numba is not
imported for them: its start-up cost a batch ~0.5 s). A line that fails is reported on
stderr with its line number and the following lines still run; the exit status is 2 if any
line failed.
"""
from __future__ import annotations

import shlex
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .backends.compile_policy import expect_renders
from .errors import NanoBraggError, freeze_objects

# Lines whose summary and files may still be pending while the next line renders (each holds
# its image: 4 MB for 1024^2 in float32).
LOOKAHEAD = 3


def batch_lines(path: str) -> list:
    """[(line number, argument list)] of the runs in batch file `path`."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise NanoBraggError(f"-batch {path}: cannot read the batch file ({exc})") from None
    runs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            runs.append((number, line))
    return runs


def _report(path: str, number: int, exc: BaseException, err, failed: list) -> None:
    """Print a line's failure with its line number and append the number to `failed`."""
    known = isinstance(exc, (NanoBraggError, ValueError))      # ValueError: shlex's quotes
    text = str(exc) if known else f"{type(exc).__name__}: {exc}"
    print(f"nanoBragg: error: {path} line {number}: {text}", file=err)
    failed.append(number)


def _split(line: str) -> list:
    """shlex.split(line) (``shlex`` costs ~0.4 ms a line): without a quote or backslash, the
    words between its whitespace characters (space, tab, CR, LF)."""
    if any(c in line for c in "'\"\\"):
        return shlex.split(line)
    return [word for word in line.translate(_BLANKS).split(" ") if word]


_BLANKS = str.maketrans("\t\r\n", "   ")


def _start_line(line: str, start):
    """Start one line (`start(args)`, which renders): (its finishing function or None, None),
    or (None, the exception it raised)."""
    try:
        args = _split(line)
        if "-batch" in args:
            raise NanoBraggError("-batch cannot be nested in a batch file")
        return start(args), None
    except Exception as exc:  # noqa: BLE001  (report, carry on with the next line)
        return None, exc


def run_batch(path: str, start, err=None) -> int:
    """Run every line of batch file `path`; 0, or 2 if any line failed.

    ``start(args)`` renders one line and returns the rest of it (summary and files) as a
    function of no argument that prints nothing before it is called.  Those parts run in line
    order on one worker thread while the following lines render on the main thread, up to
    `LOOKAHEAD` lines ahead of the oldest part not yet finished.  `start`
    and the finishing function raise NanoBraggError for a user error (any other exception is
    reported too: one bad line must not stop the others); reports keep the lines' order."""
    err = err or sys.stderr
    failed: list = []
    runs = batch_lines(path)
    freeze_objects()                                # our own process: imports done (errors.py)
    pending: deque = deque()                        # (line number, future), oldest first

    def settle(keep: int) -> None:
        """Wait for the oldest parts until at most `keep` are pending; report their failures."""
        while len(pending) > keep:
            number, future = pending.popleft()
            if future.exception() is not None:
                _report(path, number, future.exception(), err, failed)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-outputs") as outputs:
        try:
            for i, (number, line) in enumerate(runs):
                expect_renders(len(runs) - i)          # this line and the ones after it
                finish, exc = _start_line(line, start)
                if exc is not None:
                    settle(0)                          # earlier lines' reports first
                    _report(path, number, exc, err, failed)
                elif finish is not None:
                    settle(LOOKAHEAD - 1)
                    pending.append((number, outputs.submit(finish)))
            settle(0)
        finally:
            expect_renders(1)
    if failed:
        print(f"nanoBragg: error: {len(failed)} of {len(runs)} runs in {path} failed "
              f"(lines {', '.join(map(str, failed))})", file=err)
        return 2
    return 0
