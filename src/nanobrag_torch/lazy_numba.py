"""``njit`` that imports numba only when a compiled function is first called.

``import numba`` costs ~0.2 s, a sizeable part of a command line's start-up, and most runs
never draw noise.  ``@njit(cache=True)`` from here records the function; the first call of
any recorded function compiles every one of them with ``numba.njit`` and rebinds each module
global that names a recorded function to its numba dispatcher, so jitted functions that call
each other resolve to dispatchers when numba compiles them (exactly as with numba's own
decorator at import time).  Only this package's modules are scanned.

Disk cache: numba keys a cached function by its own file only, but compiled functions inline
others from other files (``crandom.py`` into ``noise.py`` and ``noisify/``), so an upgrade
that changes only ``crandom.py`` would reload stale machine code.  Functions of this package
are therefore cached under a stamp that also holds the source hash of every package module
compiled through this decorator (`_package_stamp`): editing any of them recompiles all.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading

_PENDING: list = []
_LOCK = threading.RLock()       # `load_target` takes it too, inside `_compile_all`
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class _Lazy:
    """A function waiting for numba; calling it compiles all pending functions."""

    def __init__(self, fn, options: dict):
        self.fn, self.options, self.compiled = fn, options, None
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        if self.compiled is None:
            _compile_all()
        return self.compiled(*args)


@functools.lru_cache(maxsize=None)
def _package_stamp(package_dir: str = _PACKAGE_DIR) -> str:
    """sha256 over the sources of the package's modules that use this decorator."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(package_dir):
        dirs.sort()
        for name in sorted(f for f in files if f.endswith(".py")):
            with open(os.path.join(root, name), "rb") as f:
                text = f.read()
            if b"lazy_numba import njit" in text:
                digest.update(name.encode() + text)
    return digest.hexdigest()


def _install_cache_locators() -> None:
    """Put locators first in numba's list that stamp this package's functions with
    `_package_stamp` as well as their own file (other files keep numba's locators)."""
    from numba.core import caching
    if getattr(caching.CacheImpl, "_nanobrag_locators", False):
        return

    class _PackageStamp:
        def get_source_stamp(self):
            return (super().get_source_stamp(), _package_stamp())

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(_PACKAGE_DIR + os.sep):
                return None
            return super().from_function(py_func, py_file)

    bases = (caching.InTreeCacheLocator, caching.UserWideCacheLocator)
    caching.CacheImpl._locator_classes[:0] = [type("Package" + b.__name__, (_PackageStamp, b), {})
                                             for b in bases]
    caching.CacheImpl._nanobrag_locators = True


def _compile_all() -> None:
    with _LOCK:
        load_target()
        _compile_pending()


_BLAS_PROBE = "scipy.linalg.cython_blas"


def load_target() -> None:
    """Load numba's CPU target (typing and lowering registries) with its import-time BLAS
    probe answered "absent": the probe imports scipy.linalg (~0.3 s of a command's start-up)
    only to pick the inner product of np.convolve/np.correlate, which no function of this
    package uses (`numba_steps` loads the target here too); np.dot and np.linalg still
    import scipy when a function using them is compiled."""
    from numba.core.registry import cpu_target
    with _LOCK:                                  # one thread at a time edits sys.modules here
        blocked = _BLAS_PROBE not in sys.modules
        if blocked:
            sys.modules[_BLAS_PROBE] = None      # import -> ImportError
        try:
            cpu_target.target_context.refresh()
        finally:
            if blocked and sys.modules.get(_BLAS_PROBE, 0) is None:
                del sys.modules[_BLAS_PROBE]


def _compile_pending() -> None:
    _install_cache_locators()
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


def python_form(fn):
    """`fn` (a function recorded here, before or after numba compiled it) as plain Python,
    calling the plain-Python forms of the recorded functions it names: for a few calls from
    Python (a handful of draws) that must not pay for importing numba (~0.6 s)."""
    base = getattr(fn, "fn", None) or getattr(fn, "py_func", None) or fn
    return _python_form(base)


@functools.lru_cache(maxsize=None)
def _python_form(base):
    import types
    names = dict(base.__globals__)
    for name in base.__code__.co_names:
        value = names.get(name)
        if isinstance(value, _Lazy) or hasattr(value, "py_func"):
            names[name] = python_form(value)
    return types.FunctionType(base.__code__, names, base.__name__, base.__defaults__,
                              base.__closure__)


def njit(**options):
    """Decorator: ``numba.njit(**options)``, applied on the first call of any decorated function."""
    def wrap(fn):
        lazy = _Lazy(fn, options)
        _PENDING.append(lazy)
        return lazy
    return wrap
