"""``njit`` that imports numba only when a compiled function is first called.

``import numba`` costs ~0.2 s, a sizeable part of a command line's start-up, and most runs
never draw noise.  ``@njit(cache=True)`` from here records the function; the first call of
any recorded function compiles every one of them with ``numba.njit`` and rebinds each module
global that names a recorded function to its numba dispatcher, so jitted functions that call
each other resolve to dispatchers when numba compiles them (exactly as with numba's own
decorator at import time).  Only this package's modules are scanned.
"""
from __future__ import annotations

import functools
import sys

_PENDING: list = []


class _Lazy:
    """A function waiting for numba; calling it compiles all pending functions."""

    def __init__(self, fn, options: dict):
        self.fn, self.options, self.compiled = fn, options, None
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        if self.compiled is None:
            _compile_all()
        return self.compiled(*args)


def _compile_all() -> None:
    from numba import njit as numba_njit
    for lazy in _PENDING:
        lazy.compiled = numba_njit(**lazy.options)(lazy.fn)
    done = {id(lazy): lazy.compiled for lazy in _PENDING}
    package = __name__.rpartition(".")[0]
    for module_name, module in list(sys.modules.items()):
        if module_name != package and not module_name.startswith(package + "."):
            continue
        names = vars(module)
        for name, value in list(names.items()):
            if isinstance(value, _Lazy) and id(value) in done:
                names[name] = done[id(value)]
    _PENDING.clear()


def njit(**options):
    """Decorator: ``numba.njit(**options)``, applied on the first call of any decorated function."""
    def wrap(fn):
        lazy = _Lazy(fn, options)
        _PENDING.append(lazy)
        return lazy
    return wrap
