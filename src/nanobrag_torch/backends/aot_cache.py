"""Compiled-kernel packages on disk: load, reject and rebuild, build in the background.

A package ``fused_<variant>.pt2`` lives in `cache_dir` with, while it is being built, a lock
file ``.lock`` (the builder's pid) and the build's log ``.log``.  A package that fails to
load (truncated, corrupt, built by a different torch) is moved aside and rebuilt; a
variant whose build failed (e.g. no C++ compiler) leaves ``.failed`` with the reason, and
is not tried again until that file is removed.

Background builds run in a separate, detached Python process (``python -m
nanobrag_torch.backends.aot_cache INPUTS PACKAGE``) so the render goes on eagerly on the
other core and switches to the compiled kernel as soon as the package appears; a build
that outlives its process still fills the cache for the next one.  The build's inductor
artefacts go to ``$NANOBRAG_CACHE/inductor`` unless ``TORCHINDUCTOR_CACHE_DIR`` is set, so
an empty ``NANOBRAG_CACHE`` is a cold start.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import torch

from .aot_runner import forget_copies, open_package

log = logging.getLogger("nanobrag_torch")

STALE_LOCK_S = 900          # a lock older than this is a dead build
_children: dict = {}        # package path -> Popen of a build this process started
_loaded: dict = {}          # package path -> runner of a package loaded by this process


def cache_dir() -> Path:
    """``NANOBRAG_CACHE``, default ~/.cache/nanobrag_torch (read per call, built once per value:
    every render asks)."""
    return _cache_dir(os.environ.get("NANOBRAG_CACHE"), os.environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _cache_dir(chosen: str | None, home: str | None) -> Path:
    """The path for ``NANOBRAG_CACHE`` = `chosen`; `home` ($HOME, which Path.home reads) keys it."""
    return Path(chosen) if chosen is not None else Path.home() / ".cache" / "nanobrag_torch"


@functools.cache
def build_identity() -> str:
    """Packages are built with -march=native and `BUILD_CONFIG`: tie them to this CPU model,
    its flags and those options (a package built with other options is rebuilt)."""
    try:
        info = Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
        keep = [line for line in info if line.startswith(("model name", "flags"))]
    except OSError:
        import platform
        keep = [platform.machine()]
    keep.append(repr(sorted(BUILD_CONFIG.items())))
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:12]


# The user's own inductor cache, if any, read at import (inductor writes its default into the
# environment on first use, which must not count as the user's choice)
_USER_INDUCTOR_DIR = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


def inductor_env(env: dict | None = None) -> dict:
    """`env` (default os.environ) with the inductor cache inside our cache directory (unless
    the user set ``TORCHINDUCTOR_CACHE_DIR``) and the vector ISA taken from the CPU's flags
    (no probe compilations)."""
    env = dict(os.environ if env is None else env)
    env["TORCHINDUCTOR_CACHE_DIR"] = _USER_INDUCTOR_DIR or str(cache_dir() / "inductor")
    env.setdefault("TORCHINDUCTOR_VEC_ISA_OK", "1")    # skip inductor's ~10 s of ISA probe
    return env                                          # builds: /proc/cpuinfo's flags decide


def _side(path: Path, kind: str) -> Path:
    return path.with_suffix(f".{kind}")


def load(path: Path):
    """A runner ``run(si, fi, values) -> tuple`` for the package at `path`, or None when the
    package is absent or unusable (then it is moved aside to ``.bad`` so it gets rebuilt)."""
    if not path.exists():
        return None
    try:
        runner = open_package(path)          # the kernel call releases the GIL (aot_runner)
    except Exception as exc:  # truncated / corrupt zip, missing .so, other torch
        reject(path, exc)
        return None

    def run(si, fi, values):
        return runner([si, fi, *values])
    return run


def runner(path: Path):
    """The runner of the package at `path` (`load`, once per process), or None."""
    if str(path) not in _loaded:
        run = load(path)
        if run is None:
            return None
        _loaded[str(path)] = run
    return _loaded[str(path)]


def switching(path: Path, compiled, eager):
    """A function of the kernel's arguments: ``compiled(runner, *args)`` with the package at
    `path` once loaded (from the start, or as soon as a background build's package appears),
    else ``eager(*args)`` (the eager or numba kernel), on one thread while a build runs: the
    build gets a core of its own (a render's threads wait for each other at every operation,
    so sharing a core with a build slows them several-fold).  A package failing at run time
    is rejected (rebuilt later) and that call made eagerly."""
    def call(*args):
        run = _loaded.get(str(path)) or (runner(path) if path.exists() else None)
        if run is None:
            with _threads(1 if building(path) else torch.get_num_threads()):
                return eager(*args)
        try:
            return compiled(run, *args)
        except Exception as exc:  # noqa: BLE001  (a corrupt package: any error)
            reject(path, exc)
            return eager(*args)
    return call


@contextlib.contextmanager
def _threads(n: int):
    """Run the body with at most `n` intra-op threads (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def reject(path: Path, exc: BaseException) -> None:
    """Move an unusable package aside (``.bad``, kept for inspection) so it is rebuilt."""
    _loaded.pop(str(path), None)
    reason = str(exc).splitlines()[0] if str(exc) else ""
    log.warning("compiled kernel %s unusable (%s: %s); rebuilding it", path.name,
                type(exc).__name__, reason[:200])
    try:
        os.replace(path, _side(path, "bad"))
        forget_copies(path)
    except OSError:
        pass


def failed(path: Path) -> str | None:
    """The reason an earlier build of this variant failed, or None."""
    marker = _side(path, "failed")
    if not marker.exists():
        return None
    return marker.read_text().strip() or "unknown"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def building(path: Path) -> bool:
    """Whether a live build of `path` holds its lock (a stale lock is removed)."""
    lock = _side(path, "lock")
    child = _children.get(str(path))
    if child is not None and child.poll() is not None:       # our build ended (reaped)
        del _children[str(path)]
        lock.unlink(missing_ok=True)
        return False
    try:
        pid = int(lock.read_text() or 0)
        age = time.time() - lock.stat().st_mtime
    except (OSError, ValueError):
        return False
    if pid and _pid_alive(pid) and age < STALE_LOCK_S:
        return True
    lock.unlink(missing_ok=True)
    return False


def wait(path: Path, poll_s: float = 0.2) -> bool:
    """Wait for a running build of `path` to end; whether the package now exists."""
    waited = False
    while building(path):
        waited = True
        time.sleep(poll_s)
    return waited and path.exists()


SPOTS_BUILDER = "nanobrag_torch.backends.compile_policy:build_package"


def start_build(path: Path, kernel_inputs, builder: str = SPOTS_BUILDER) -> bool:
    """Start a detached background build of `path` from `kernel_inputs` (any picklable
    object the function `builder`, ``module:name``, accepts as ``builder(kernel_inputs,
    path)``; default the spots kernel's).  False when one is already running."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if building(path):
        return False
    lock = _side(path, "lock")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    inputs = _side(path, "inputs")
    torch.save(kernel_inputs, inputs)
    env = inductor_env()
    package_root = str(Path(__file__).resolve().parents[2])     # this nanobrag_torch, not another
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(_side(path, "log"), "w") as logf:
        proc = subprocess.Popen([sys.executable, "-m", __name__,
                                 str(inputs), str(path), builder], stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
    _children[str(path)] = proc
    os.write(fd, str(proc.pid).encode())
    os.close(fd)
    log.info("building the compiled kernel in the background (pid %d; cached in %s); renders "
             "use the numba or eager kernel until it is ready", proc.pid, path.parent)
    return True


# No precompiled AOTInductor headers: inductor keeps them outside our cache (one ~150 MB
# machine-wide .gch), and building it costs ~7 s more CPU than the ~5 s it saves the build
# that makes it (measured: a W3 package from nothing, 25.5 s CPU with, 18.5 s without).
# The wrapper (one call per row block) at -O0: its compile takes ~15 % less CPU.
# Threads: inductor plans its OpenMP loops for `cpp.threads` (by default the building
# process's torch thread count: none for 1, and a package built under the speed gate's one
# thread rendered W3 serially for every later process, 0.78 against 0.44 s), so it is set to
# the machine's count; and it writes the team size into each loop (`num_threads(2)`) unless
# `cpp.dynamic_threads`: with it, a plain `omp parallel` whose team follows the running
# process's setting (``OMP_NUM_THREADS``, torch.set_num_threads), so that processes run one
# per core (the dataset runner's workers) do not each run a team of every core.
BUILD_CONFIG = {"aot_inductor.precompile_headers": False,
                "aot_inductor.compile_wrapper_opt_level": "O0",
                "cpp.threads": os.cpu_count() or 1,
                "cpp.dynamic_threads": True}


def build_now(path: Path, build) -> None:
    """Run `build(path)` in this process with the inductor cache in our cache directory;
    a failure leaves ``.failed`` with its reason and re-raises."""
    from torch._inductor import config
    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_env()["TORCHINDUCTOR_CACHE_DIR"]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        vec_isa_ok = inductor_env()["TORCHINDUCTOR_VEC_ISA_OK"] == "1"
        with config.patch(BUILD_CONFIG | {"cpp.vec_isa_ok": vec_isa_ok}), _plain_vector_isas(), \
                _wrapper_beside_kernel(), _dtype_rules_once():
            build(path)
        _side(path, "failed").unlink(missing_ok=True)
    except Exception as exc:
        _side(path, "failed").write_text(f"{type(exc).__name__}: {str(exc)[:500]}\n")
        raise
    finally:
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old


@contextlib.contextmanager
def _plain_vector_isas():
    """Inductor's x86 vector ISAs without their probe compilations: it compiles and loads six
    small programs (bf16, VNNI, AMX checks, ~4 s on 2 busy cores) in every empty cache.  Our
    kernels are float32/float64 arithmetic, for which AVX-512 (or AVX2) alone generates the
    same loops; the CPU's flags (/proc/cpuinfo, checked by inductor) still decide which."""
    from torch._inductor import cpu_vec_isa as isa
    if not isa.config.cpp.vec_isa_ok:
        yield
        return

    class Avx512(isa.VecAVX512):
        __hash__ = isa.VecISA.__hash__

        def __bool__(self) -> bool:
            return True

    class Avx2(isa.VecAVX2):
        __hash__ = isa.VecISA.__hash__

        def __bool__(self) -> bool:
            return True

    saved = list(isa.supported_vec_isa_list)
    isa.supported_vec_isa_list[:] = [Avx512(), Avx2()]
    isa.valid_vec_isa_list.cache_clear()
    try:
        yield
    finally:
        isa.supported_vec_isa_list[:] = saved
        isa.valid_vec_isa_list.cache_clear()


@contextlib.contextmanager
def _dtype_rules_once():
    """Set inductor's dtype-propagation rules up once per build, not once per generated op:
    its handler is a singleton whose ``__init__`` re-runs on every construction (a
    ``dir()`` and a set difference over all op names each time, ~20 % of a build's CPU)."""
    from torch._inductor.dtype_propagation import DtypePropagationOpsHandler as handler
    init = handler.__init__

    def once(self) -> None:
        if not getattr(self, "_rules_set", False):
            init(self)
            self._rules_set = True

    handler.__init__ = once
    try:
        yield
    finally:
        handler.__init__ = init


@contextlib.contextmanager
def _wrapper_beside_kernel():
    """Compile the package's C++ wrapper in a thread while the kernel compiles (inductor runs
    the two compilers one after the other; the wrapper is needed only at the link)."""
    from torch._inductor.cpp_builder import CppBuilder
    build, pending = CppBuilder.build, []

    def join():
        while pending:
            thread, error = pending.pop()
            thread.join()
            if error:
                raise error[0]

    def overlapped(self):
        command = self.get_command_line()
        if ".wrapper.cpp" in command and not pending:
            error: list = []

            def run():
                try:
                    build(self)
                except BaseException as exc:  # noqa: BLE001  (re-raised by join)
                    error.append(exc)
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            pending.append((thread, error))
            return
        if ".wrapper.o" in command:         # the link
            join()
        build(self)

    CppBuilder.build = overlapped
    try:
        yield
        join()
    finally:
        CppBuilder.build = build
        for thread, _ in pending:
            thread.join()


def compile_package(module: torch.nn.Module, example: tuple, dynamic_shapes, path: Path) -> None:
    """Export `module` at the `example` inputs (``torch.export`` with `dynamic_shapes`) and
    AOT-compile it into the package `path`, atomically (temp name, then rename)."""
    from torch.export import export
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        warnings.simplefilter("ignore", FutureWarning)      # torch.export internals, not ours
        program = export(module, example, dynamic_shapes=dynamic_shapes)
        tmp_path = Path(tmp) / path.name
        torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path))
        os.replace(tmp_path, path)


def _idle_priority() -> None:
    """Run this process only on otherwise idle cores (SCHED_IDLE, else nice 19): a render's
    OpenMP threads wait for each other at every operation, so a build that takes a core from
    one of them even briefly (as a niced process still does) slows the render several-fold."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def _worker(inputs: str, package: str, builder: str = SPOTS_BUILDER) -> int:
    """Background build entry point: load the pickled kernel inputs, build with `builder`
    (``module:name``), clean up."""
    _idle_priority()
    module, name = builder.split(":")
    build_package = getattr(importlib.import_module(module), name)
    path = Path(package)
    try:
        k = torch.load(inputs, weights_only=False)
        t0 = time.perf_counter()
        build_now(path, lambda p: build_package(k, p))
        print(f"built {path.name} in {time.perf_counter() - t0:.1f} s", flush=True)
        return 0
    except Exception as exc:  # recorded in .failed; the renders stay eager
        print(f"build failed: {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        Path(inputs).unlink(missing_ok=True)
        _side(path, "lock").unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(_worker(*sys.argv[1:4]))
