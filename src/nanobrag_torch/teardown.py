"""A host process's exit without the interpreter's collector walking every imported object.

Once torch (and numba) are imported a process holds ~260k objects tracked by the cyclic
garbage collector; the interpreter's teardown runs several full collections over them after
the atexit handlers, ~0.45-0.6 s of a script's exit (a still's 4 shots take ~2 s).  At exit
(an atexit handler, registered when the package is imported) one full collection runs first,
so every garbage cycle that exists at exit is finalized as usual, then ``gc.freeze()`` keeps
the teardown's collections off the objects still alive: exit ~0.2-0.3 s.

What changes for the host: an object alive at exit that only becomes cyclic garbage during
the teardown is not collected, so its ``__del__`` does not run (CPython makes no promise that
it does: "It is not guaranteed that __del__() methods are called for objects that still exist
when the interpreter exits").  ``NANOBRAG_EXIT_FREEZE=0`` keeps the interpreter's own
teardown.  Our programs (`errors.console`) freeze after their imports and end with
`errors.exit_now`, so there the handler does nothing.
"""
from __future__ import annotations

import atexit
import gc
import os

from . import errors


def _collect_then_freeze() -> None:
    if errors.is_own_process():
        return
    gc.collect()
    gc.freeze()


def register() -> None:
    """Register the exit handler (once; not with ``NANOBRAG_EXIT_FREEZE=0``)."""
    if os.environ.get("NANOBRAG_EXIT_FREEZE", "1") != "0":
        atexit.unregister(_collect_then_freeze)
        atexit.register(_collect_then_freeze)
