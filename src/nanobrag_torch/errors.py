"""User-facing errors: one line, naming the flag or file and the problem.

The CLI prints ``str(error)`` prefixed with ``nanoBragg: error:`` and exits with status 2;
no traceback is shown for these.
"""


class NanoBraggError(Exception):
    """A problem with the user's input (flag, value or file), reported on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def exit_status(prog: str, fn, *args) -> int:
    """Run ``fn(*args)`` for a command-line program: 0, or 2 after the one-line
    ``prog: error: ...`` on stderr when it raises a NanoBraggError."""
    import sys
    try:
        fn(*args)
    except NanoBraggError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0
