"""User-facing errors: one line, naming the flag or file and the problem.

The CLI prints ``str(error)`` prefixed with ``nanoBragg: error:`` and exits with status 2;
no traceback is shown for these.
"""


class NanoBraggError(Exception):
    """A problem with the user's input (flag, value or file), reported on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def run_command(prog: str, argv: list, body, usage, oom_hint: str) -> int:
    """A command line's frame: ``-h`` prints `usage()`, then ``body(argv)``; a
    NanoBraggError or an allocation failure becomes one line ``prog: error: ...`` on stderr
    and status 2 (no traceback); 0 on success."""
    import logging
    import sys
    logging.basicConfig(level=logging.INFO, format=f"{prog}: %(message)s", stream=sys.stderr)
    if argv in ([], ["-h"], ["--help"], ["-help"]):
        print(usage())
        return 0 if argv else 2
    try:
        body(argv)
    except NanoBraggError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "alloc" not in str(exc).lower():
            raise
        print(f"{prog}: error: out of memory ({oom_hint})", file=sys.stderr)
        return 2
    return 0
