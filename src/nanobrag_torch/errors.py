"""User-facing errors: one line, naming the flag or file and the problem.

The CLI prints ``str(error)`` prefixed with ``nanoBragg: error:`` and exits with status 2;
no traceback is shown for these.
"""


class NanoBraggError(Exception):
    """A problem with the user's input (flag, value or file), reported on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def oom_guard(body, hint: str):
    """`body`, with running out of memory (MemoryError, or a torch RuntimeError about an
    allocation) turned into the NanoBraggError ``out of memory (hint)``."""
    def guarded(*args):
        try:
            return body(*args)
        except (MemoryError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and "alloc" not in str(exc).lower():
                raise
            raise NanoBraggError(f"out of memory ({hint})") from None
    return guarded


def run_command(prog: str, argv: list, body, usage=None, oom_hint: str | None = None) -> int:
    """The one command-line frame of every program: with `usage`, no arguments or ``-h``
    prints `usage()` (status 2 / 0); then ``body(argv)`` (which may return a status).  A
    NanoBraggError -- and, with `oom_hint`, an allocation failure (`oom_guard`) -- becomes
    one line ``prog: error: ...`` on stderr and status 2 (no traceback); else the body's
    status, or 0."""
    import logging
    import sys

    from .heap import keep_freed_memory
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format=f"{prog}: %(message)s", stream=sys.stderr)
    if usage is not None and argv in ([], ["-h"], ["--help"], ["-help"]):
        print(usage())
        return 0 if argv else 2
    if oom_hint is not None:
        body = oom_guard(body, oom_hint)
    try:
        status = body(argv)
    except NanoBraggError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return status or 0


def exit_now(status: int | None) -> None:
    """End the process with `status` as a normal exit would -- other non-daemon threads
    joined, atexit handlers run, streams flushed -- but without the interpreter's teardown of
    every module and object (~0.27 s once torch is loaded, a tenth of a warm render)."""
    import atexit
    import logging
    import os
    import sys
    import threading
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):      # closed or broken pipe: nothing more to say
            pass
    os._exit(status or 0)


_OWN_PROCESS = False          # set by `console`: this process is one of our programs


def is_own_process() -> bool:
    """Whether this process is one of our programs (`console`), not a host's."""
    return _OWN_PROCESS


def freeze_objects() -> None:
    """In a program's own process (`console`), take every object alive now out of the cyclic
    garbage collector's passes (``gc.freeze``): the imported modules' ~200-260k objects are
    kept to the end anyway, and each full collection that later allocations trigger walked
    them all (~0.1 s each: ~0.25 s of a 100-line ``-batch``).  In a host process (the API, a
    test) it does nothing: freezing the host's objects is the host's choice."""
    if _OWN_PROCESS:
        import gc
        gc.freeze()


def console(main):
    """The console-script (and ``python -m``) entry of a program: ``main()``, then `exit_now`;
    the objects of the imports done so far are frozen first (`freeze_objects`)."""
    def entry() -> None:
        global _OWN_PROCESS
        _OWN_PROCESS = True
        freeze_objects()
        exit_now(main())
    return entry
