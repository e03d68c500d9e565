"""The torch backend's compiled fused kernel: built ahead of time, cached on disk.

`torch_kernel.fused_chunk` is exported (``torch.export``, dynamic pixel, layer, sub-pixel,
source, orientation and HKL-table sizes; the panel frame comes per row of the block) and
compiled by AOTInductor into one package per kernel variant: the kernel's source, dtype,
device, the code-path flags of `KernelInputs` (crystal shape, factor mode, sensor,
polarization, curved detector, water, dmin), whether an HKL table is used and which step
axes have size 1.  Packages live in ``$NANOBRAG_CACHE``
(default ``~/.cache/nanobrag_torch``; see `aot_cache`) and load in milliseconds through
AOTInductor's C interface (`aot_runner`: the call releases the GIL), so a render uses the
compiled kernel whenever its package exists.

Building a package takes ~10-30 s, so ``NANOBRAG_COMPILE`` decides when and how: ``auto``
(default) starts a background build (a separate process) for a render of at least
`BACKGROUND_MIN_STEPS` pixel-steps (counting every line of a ``-batch`` file:
`expect_renders`), or when the same kind of render comes a second time in this process. Until
the package appears, renders the numba step sum covers (`numba_steps`: the square crystal in c
mode, ~1 s to import and compile, about the package's speed) run on it with every thread and
the build starts when the process ends; other renders run eagerly on one thread beside the build.
Either switches to the package between row blocks as soon as it appears, so no render waits for
a build (rows before and after the switch differ in the last bits). ``1``: build now, in this
process, and use it (reproducible bytes); ``0``: eager kernels only. Step axes of size 1 (one
source, one orientation, no oversampling, one layer) are compiled as static sizes, so the
vectorised inner loop always runs over an axis with real work. A package that fails to load or
run is moved aside and rebuilt; a failed build (e.g. no C++ compiler) is recorded and leaves
that kind of render on the eager kernel, with one log line."""
from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import os
import re
from pathlib import Path

import torch
from torch.profiler import record_function

from ..contract import RenderFlags, RenderInputs
from ..physics.structure_factors import SFTable
from . import aot_cache
from . import torch_kernel as tk
from .aot_cache import build_identity, cache_dir

log = logging.getLogger("nanobrag_torch")

COMPILE_MIN_STEPS = 2 ** 28     # ~8 s of eager work on 2 cores: worth a build in the foreground
BACKGROUND_MIN_STEPS = 2 ** 26  # ~2 s of eager work: start a background build (auto)
_seen: dict = {}
_at_exit: dict = {}             # package path -> (path, kernel inputs): built at exit
_expected = {"renders": 1}      # renders this process expects (a -batch file announces its lines)


def expect_renders(n: int) -> None:
    """Announce `n` renders coming in this process (``nanoBragg -batch``): under ``auto`` the
    first render of a kind then starts the background build when `n` renders of it would be
    worth one, instead of waiting for the second."""
    _expected["renders"] = max(1, n)


def _sf_tensors(sf: SFTable, like: torch.Tensor) -> dict:
    """The structure factors as tensors (table, mins, ranges, default_F)."""
    out = {"sf_default_F": torch.as_tensor(sf.default_F, dtype=like.dtype, device=like.device)}
    if sf.table is not None:
        out["sf_table"] = sf.table
        out["sf_mins"] = torch.tensor(sf.mins, dtype=torch.int64, device=like.device)
        out["sf_ranges"] = torch.tensor(sf.ranges, dtype=torch.int64, device=like.device)
    return out


# What a package returns (part of its variant): the chunk's I_geom [P] and the float64 sums
# of its rows' solid angles [R], reduced in the loop that computes them (the per-pixel omega
# [P] was written out and summed by numpy, ~0.4-1 ms of a 1024^2 render; one sum over all
# pixels took a parallel pass of its own, +1 ms); `accumulate` adds either form.
PACKAGE_OUTPUTS = "I [P], omega float64 row sums [R]"


class _Fused(torch.nn.Module):
    """`fused_chunk` with every input a tensor (what torch.export needs), returning
    `PACKAGE_OUTPUTS`."""

    def __init__(self, names: list, flags: dict):
        super().__init__()
        self.names, self.flags = names, flags

    def forward(self, si, fi, *tensors):
        d = dict(zip(self.names, tensors))
        table = d.pop("sf_table", None)
        mins, ranges = d.pop("sf_mins", (0, 0, 0)), d.pop("sf_ranges", (0, 0, 0))
        sf = SFTable(table, mins, ranges, d.pop("sf_default_F"))
        I, omega = tk.fused_chunk(si, fi, tk.KernelInputs(**d, sf=sf, **self.flags))
        return I, omega.reshape(si.shape[0], -1).sum(1, dtype=torch.float64)


def _inputs(k: tk.KernelInputs) -> tuple:
    """(names, contiguous tensors): compiled code assumes the example inputs' strides."""
    named = {**k.tensors(), **_sf_tensors(k.sf, k.pix0)}
    return list(named), [v.contiguous() for v in named.values()]


# a relative import statement: (dots, module, names or a parenthesised list of them)
_RELATIVE_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+(\.+)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)


def kernel_sources() -> list:
    """Paths of every package module the compiled kernel's code imports, transitively (read
    from their relative import statements by a pattern, ~1 ms; parsing them cost ~30 ms of
    each process's first compiled render): `torch_kernel` and what it uses of `physics`,
    `contract`..."""
    root = Path(tk.__file__).resolve().parents[1]             # src/nanobrag_torch
    todo, seen = [Path(tk.__file__).resolve()], []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        for dots, module, names in _RELATIVE_IMPORT.findall(path.read_text()):
            base = path.parent
            for _ in range(len(dots) - 1):
                base = base.parent
            target = base.joinpath(*(module.split(".") if module else []))
            words = [w.split()[0] for w in re.sub(r"#[^\n]*", "", names).strip("()").split(",")
                     if w.strip()]
            for cand in [target.with_suffix(".py"), target / "__init__.py",
                         *(target / f"{w}.py" for w in words)]:
                if cand.is_file() and root in cand.parents:
                    todo.append(cand)
    return sorted(seen)


@functools.cache
def _code_identity() -> str:
    """The kernel's source: a package built from older kernel code is never reused (read
    once per process)."""
    return hashlib.sha256(b"".join(p.read_bytes() for p in kernel_sources())).hexdigest()[:12]


def _variant(k: tk.KernelInputs, names: list, values: list) -> str:
    ident = repr((torch.__version__, build_identity(), _code_identity(), PACKAGE_OUTPUTS, str(k.pix0.dtype),
                  k.pix0.device.type, sorted(k.flags().items()), names, _singletons(names, values)))
    return hashlib.sha256(ident.encode()).hexdigest()[:20]


_AXES = {**{name: {0: "R"} for name in tk.PANEL_FRAME},          # per row of the block [R, 1, ...]
         "sub_off": {0: "os"}, "layer_off": {0: "T"}, "layer_idx": {0: "T"},
         "incident": {1: "NS"}, "inv_lambda": {0: "NS"}, "source_factor": {0: "NS"},
         "A": {2: "M"}, "sf_table": {0: "h", 1: "k", 2: "l"},
         "bg_nodes": {0: "K"}, "bg_scale": {0: "NS"}, "bg_weight": {0: "NS"},
         "bg_image": {0: "R", 1: "C"}}


def _singletons(names: list, values: list) -> tuple:
    """Step axes of size 1 in this render (sub-pixels, layers, sources, orientations).  They
    are compiled as static 1s, so the vectorised loop runs over a real axis."""
    single = set()
    for name, v in zip(names, values):
        for i, axis in _AXES.get(name, {}).items():
            if axis in ("os", "T", "NS", "M") and v.shape[i] == 1:
                single.add(axis)
    return tuple(sorted(single))


def build_package(k: tk.KernelInputs, path: Path) -> None:
    """Export and AOT-compile the kernel for the variant of `k` into `path` (atomically)."""
    from torch.export import Dim
    names, values = _inputs(k)
    single = _singletons(names, values)
    sizes = {"R": 64, "C": 64, "os": 2, "T": 2, "NS": 2, "M": 2, "h": 3, "k": 3, "l": 3,
             "K": 64}                                                       # loop-plan hints
    dims = {a: Dim(a, min=1) for a in sizes if a not in single}
    example, shapes = [], []
    for name, v in zip(names, values):
        axes = _AXES.get(name, {})
        shape = [(1 if axes[i] in single else sizes[axes[i]]) if i in axes else n for i, n in enumerate(v.shape)]
        example.append(torch.ones(shape, dtype=v.dtype, device=v.device))
        shapes.append({i: dims[a] for i, a in axes.items() if a in dims} or None)
    si = torch.arange(sizes["R"], device=k.pix0.device)[:, None]    # a block of rows x columns,
    fi = torch.arange(sizes["C"], device=k.pix0.device)[None, :]    # as the accumulation passes
    with torch._inductor.config.patch(tk.INDUCTOR_CONFIG):
        aot_cache.compile_package(_Fused(names, k.flags()), (si, fi, *example),
                                  ({0: dims["R"]}, {1: dims["C"]}, tuple(shapes)), path)


def _want_build(inp: RenderInputs, flags: RenderFlags, k: tk.KernelInputs, count: bool = True) -> bool:
    """auto: a big render (or one of a batch of renders big in total: `expect_renders`), or
    the second render of its kind in this process (`count` False: this render is not
    counted, as it will be by the render's own kernel choice)."""
    key = (flags.shape, flags.factors, k.pix0.dtype, k.pix0.device.type)
    seen = _seen.get(key, 0) + 1
    if count:
        _seen[key] = seen
    work = inp.steps * inp.n_panels * inp.spixels * inp.fpixels
    return work * _expected["renders"] >= BACKGROUND_MIN_STEPS or seen >= 2


def _package(inp: RenderInputs, k: tk.KernelInputs) -> tuple:
    """(`k` at one row, as the package takes it; the path of this kind's package)."""
    k = tk.at_rows(k, torch.zeros((1, 1), dtype=torch.int64, device=k.pix0.device), inp.spixels)[1]
    names, values = _inputs(k)
    return k, cache_dir() / f"fused_{_variant(k, names, values)}.pt2"


def _build_at_exit(path: Path, k: tk.KernelInputs, why: str) -> None:
    """Build the package at `path` when this process ends (`build_at_exit`)."""
    if not _at_exit:
        log.info("no compiled kernel for this kind of render yet: %s, the kernel package is "
                 "built at exit", why)
        atexit.register(build_at_exit)
    _at_exit[str(path)] = (path, k)


_READY: dict = {}                # kind of render (`_kind`) -> its package's path


def _kind(inputs: RenderInputs, flags: RenderFlags, dtype: torch.dtype, device_type: str) -> tuple:
    """What decides a render's package (`_variant`: flags, dtype, device, an HKL table or not,
    which step axes have size 1; and the cache directory), read in ~us: the key of `_READY`."""
    return (flags, dtype, device_type, inputs.sf_table is None, inputs.oversample == 1,
            inputs.thicksteps == 1, inputs.n_sources == 1, inputs.n_orient == 1, cache_dir())


def _ready(kind: tuple) -> Path | None:
    """The package path of `kind` when it was seen before and its package is loaded or
    loadable now, else None."""
    path = _READY.get(kind)
    return path if path is not None and aot_cache.runner(path) is not None else None


def package_ready(inputs: RenderInputs, flags: RenderFlags, dtype: torch.dtype, device) -> bool:
    """Whether this kind of render (`inputs` as built, rendered in `dtype` on `device`) has
    its compiled package loaded or loadable now.  No build starts beside the render: when the
    package is missing, ``auto`` builds it at the process's end if the render is worth one
    (`_want_build`), and ``1`` builds it now.  (`simulate.render` asks this before adding
    amorphous components inside the kernel: only a compiled kernel makes that cheaper than
    their own pass.)  A loaded package is found by its kind (`_kind`) in ~us."""
    mode = os.environ.get("NANOBRAG_COMPILE", "auto")
    if mode == "0" or str(device).partition(":")[0] != "cpu":      # (no torch.device: ~7 us in a render)
        return False
    kind = _kind(inputs, flags, dtype, "cpu")
    if _ready(kind) is not None:
        return True
    inp = inputs.to(dtype, device)
    k, path = _package(inp, tk.kernel_inputs(inp, flags))
    _READY[kind] = path
    if aot_cache.runner(path) is not None:
        return True
    if mode == "1":
        _build_foreground(k, path)
        return aot_cache.runner(path) is not None
    if not (aot_cache.failed(path) or aot_cache.building(path)) and _want_build(inp, flags, k, False):
        _build_at_exit(path, k, "the amorphous components render in their own pass now")
    return False


def _compiled(runner, si, fi, kk):
    """Run the compiled kernel on a block of rows x columns (masked pixel lists: eager)."""
    if si.dim() != 2 or si.shape[1] != 1 or fi.shape[0] != 1:
        return tk.fused_chunk(si, fi, kk)
    with record_function("nb.compiled_kernel"):
        return runner(si.contiguous(), fi.contiguous(), _inputs(kk)[1])


def fused_for(inp: RenderInputs, flags: RenderFlags, k: tk.KernelInputs) -> tuple:
    """(fused chunk function for this render, whether it is compiled from the start: the
    package, or the numba step sum until the package appears)."""
    mode = os.environ.get("NANOBRAG_COMPILE", "auto")
    if mode == "0":
        return tk.fused_chunk, False
    kind = _kind(inp, flags, k.pix0.dtype, k.pix0.device.type)
    ready = _ready(kind)                                     # ~0.3 ms less a render
    if ready is not None:
        return aot_cache.switching(ready, _compiled, tk.fused_chunk), True
    k, path = _package(inp, k)
    _READY[kind] = path
    if aot_cache.runner(path) is None:
        reason = aot_cache.failed(path)
        if reason:
            log.info("no compiled kernel for this kind of render (build failed: %s; remove %s "
                     "to retry); using the eager kernel", reason, path.with_suffix(".failed"))
            return tk.fused_chunk, False
        if mode == "1":
            _build_foreground(k, path)
        elif _want_build(inp, flags, k):
            cold = _cold_kernel(k)
            if cold is tk.fused_chunk:
                aot_cache.start_build(path, k)
            else:       # numba renders at full speed; the build waits for the process's end
                _build_at_exit(path, k, "the step sum is compiled by numba now")
                return aot_cache.switching(path, _compiled, cold), True
    if aot_cache.runner(path) is not None:      # (numba is not imported for such renders)
        return aot_cache.switching(path, _compiled, tk.fused_chunk), True
    if not aot_cache.building(path):
        return tk.fused_chunk, False
    cold = _cold_kernel(k)
    return aot_cache.switching(path, _compiled, cold), cold is not tk.fused_chunk


def _cold_kernel(k: tk.KernelInputs):
    """The kernel for rows rendered before the package exists: the step sum compiled by
    numba (~1 s to import and compile, about the package's speed) where it covers the render,
    else the eager kernel (10-30x slower)."""
    if not _numba_covers(k):
        return tk.fused_chunk
    from . import numba_steps       # imports numba (~0.3 s): only for renders that use it
    return numba_steps.fused_chunk


def _numba_covers(k: tk.KernelInputs) -> bool:
    """Whether `numba_steps.flat_steps` covers the render of `k` (asked without importing
    numba): the square crystal, c mode without -dmin, on the CPU, no gradients (the
    amorphous components in the kernel only come with a package: `package_ready`)."""
    return (k.shape == "square" and not k.fixed and not k.background and k.dmin is None and k.pix0.device.type == "cpu"
            and k.pix0.dtype in (torch.float32, torch.float64)
            and not any(t.requires_grad for t in k.tensors().values()))


def build_at_exit() -> None:
    """Start the package build that waited for this process's end (`fused_for`, atexit): the
    numba kernel is about as fast as a package, but a build beside the renders slows them
    several-fold (measured: the still's later shots 0.7 -> 2-7 s, even with the build at idle
    priority), while later processes want the package (it loads in ms; numba compiles for
    seconds).  One build, of the kind rendered last: a process that rendered many kinds (a
    test run: 11) started as many builds at once, every core busy for minutes; the other
    kinds are built at the end of a later process that renders them."""
    while _at_exit:
        _, (path, k) = _at_exit.popitem()
        if aot_cache.runner(path) is None and not aot_cache.building(path):
            aot_cache.start_build(path, k)
            break
    _at_exit.clear()


def _build_foreground(k: tk.KernelInputs, path: Path) -> None:
    """Build now (mode 1), or wait for a running background build of the same package."""
    if aot_cache.wait(path):
        return
    log.info("compiling the fused kernel for this kind of render (once; cached in %s)", path.parent)
    try:
        aot_cache.build_now(path, lambda p: build_package(k, p))
    except Exception as exc:  # no compiler, unsupported device, export limits: eager, loudly
        log.warning("compiled kernel unavailable (%s: %s); using the eager kernel",
                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
