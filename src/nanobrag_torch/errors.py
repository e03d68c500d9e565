"""User-facing errors: one line, naming the flag or file and the problem.

The CLI prints ``str(error)`` prefixed with ``nanoBragg: error:`` and exits with status 2;
no traceback is shown for these.
"""


class NanoBraggError(Exception):
    """A problem with the user's input (flag, value or file), reported on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
