"""``nanoBragg -batch FILE``: many runs of the command line in one process.

Each line of FILE that is not empty and does not start with ``#`` holds the flags of one
run, as typed after ``nanoBragg`` (shell quoting rules, no variable expansion).  The runs
share the process: torch and the package are imported once, HKL files are parsed once
(`models.structure_factors` caches them by path, size and mtime) and a compiled kernel is
loaded once per kind of render (under ``NANOBRAG_COMPILE=auto`` the first render of a kind
starts its background build when the file's lines together are worth one, else the second;
the later lines use it as soon as it is ready).  A line that
fails is reported on stderr with its line number and the following lines still run; the
exit status is 2 if any line failed.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .backends.compile_policy import expect_renders
from .errors import NanoBraggError


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


def _run_line(path: str, number: int, line: str, render, err, failed: list) -> None:
    """Render one line; a failure is printed with its line number and appended to `failed`."""
    try:
        args = shlex.split(line)
        if "-batch" in args:
            raise NanoBraggError("-batch cannot be nested in a batch file")
        render(args)
    except NanoBraggError as exc:
        print(f"nanoBragg: error: {path} line {number}: {exc}", file=err)
        failed.append(number)
    except ValueError as exc:       # shlex: unbalanced quotes
        print(f"nanoBragg: error: {path} line {number}: {exc}", file=err)
        failed.append(number)
    except Exception as exc:  # noqa: BLE001  (report, carry on with the next line)
        print(f"nanoBragg: error: {path} line {number}: {type(exc).__name__}: {exc}", file=err)
        failed.append(number)


def run_batch(path: str, render, err=None) -> int:
    """Run `render(args)` for every line of batch file `path`; 0, or 2 if any line failed.
    `render` raises NanoBraggError for a user error (any other exception is reported too:
    one bad line must not stop the others)."""
    err = err or sys.stderr
    failed = []
    runs = batch_lines(path)
    try:
        for i, (number, line) in enumerate(runs):
            expect_renders(len(runs) - i)          # this line and the ones after it
            _run_line(path, number, line, render, err, failed)
    finally:
        expect_renders(1)
    if failed:
        print(f"nanoBragg: error: {len(failed)} of {len(runs)} runs in {path} failed "
              f"(lines {', '.join(map(str, failed))})", file=err)
        return 2
    return 0
