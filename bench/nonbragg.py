"""Background speed -> reports/nonbragg.md: ``python -m bench.nonbragg``.

1. nonBragg.c's whole process (2 threads; `NONBRAGG_C`, default /work/cbin/nonBragg) against
   our in-process render (parse + resolve + render through `nanobrag_torch.nonbragg.api`) of the
   same command line, 1024^2 and 2048^2 water, measured side by side, interleaved, min of N.
   Acceptance: 2048^2 at most 0.5x the C.
2. A spots render (bench cases W1, W3, W4) with and without water + air components in the
   same render: the first render of a geometry (the components inside the spots kernel where
   `components.in_kernel` serves it; and, for comparison, in their own pass), a later one
   (their images kept, added inside the kernel where `components.kept_in_kernel` serves it)
   and one with new tables; the components' step inside the kernel
   alone; and the first render with components of a fresh process.  Acceptance: at most
   10 % of the spots render, end to end.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "2"

from bench import cases  # noqa: E402
from bench.provenance import ROOT, stamp  # noqa: E402
from bench.regression import wait_for_background_builds  # noqa: E402
import torch  # noqa: E402

from nanobrag_torch.heap import keep_freed_memory  # noqa: E402
from nanobrag_torch.nonbragg.api import run as bg_run  # noqa: E402
from nanobrag_torch.nonbragg import components, fast32, nodes  # noqa: E402
from nanobrag_torch.simulate import run as nb_run  # noqa: E402
from nanobrag_torch.backends import torch_eager  # noqa: E402

C_BINARY = os.environ.get("NONBRAGG_C", "/work/cbin/nonBragg")
WATER = str(ROOT / "src" / "nanobrag_torch" / "data" / "stol" / "water.stol")
COMPONENTS = ["-bg_stol", "water", "-bg_thick", "0.1", "-bg_stol", "air", "-bg_thick", "10",
              "-bg_density", "0.0012", "-bg_MW", "28.96"]


def physics(n: int) -> list:
    return ["-stol", WATER, "-lambda", "1", "-distance", "100", "-detpixels", str(n), "-pixel", "0.1"]


def measure(fn, *args) -> tuple:
    """(wall seconds, CPU seconds of this process and its finished children) of fn(*args)."""
    def cpu():
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    c0, t0 = cpu(), time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0, cpu() - c0


def run_c(n: int, workdir: str) -> None:
    cmd = [C_BINARY, *physics(n), "-floatfile", "floatimage.bin", "-intfile", "intimage.img",
           "-pgmfile", "image.pgm", "-nonoise", "-noprogress"]
    subprocess.run(cmd, cwd=workdir, check=True, capture_output=True)


def best(samples: list) -> tuple:
    """Min wall and min CPU time over the samples."""
    return min(w for w, _ in samples), min(c for _, c in samples)


def side_by_side(repeats: int) -> list:
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for n in (1024, 2048):
            bg_run(physics(n))                           # warm-up (compiled kernel load)
            c, ours = [], []
            for _ in range(repeats):
                c.append(measure(run_c, n, workdir))
                ours.append(measure(bg_run, physics(n)))
            (cw, cc), (ow, oc) = best(c), best(ours)
            verdict = ("PASS" if ow / cw <= 0.5 else "FAIL") if n == 2048 else "-"
            rows.append(f"| {n}x{n} | {cw:.3f} / {cc:.3f} | {ow:.3f} / {oc:.3f} | {ow / cw:.2f} "
                        f"| {oc / cc:.2f} | {verdict} |")
    return rows


def _forget_geometry(tables: bool = False) -> None:
    """Make the next render of this geometry a first one (no component images kept, the
    geometry not seen: `components.in_kernel` takes it); `tables`: drop the node and cell
    tables and the kernel fields too (new tables or wavelengths)."""
    components._IMAGES.clear()
    components._SEEN.clear()
    if tables:
        components._FIELDS.clear()
        nodes._NODES.clear()
        fast32._CELLS.clear()


def _separate_next(pre, s) -> None:
    """Make the next render of this geometry a first one that renders its components in their
    own pass (the form before `components.in_kernel`): images dropped, geometry marked seen."""
    _forget_geometry()
    components.in_kernel(pre, s.backgrounds, s.beamsize_m)


def _kernel_step(pre, fused) -> float:
    """Wall seconds of the spots accumulation with the components inside minus without:
    the components' cost inside the compiled kernel (min of 3 interleaved pairs each)."""
    with_bg, plain = [], []
    for _ in range(3):
        plain.append(measure(torch_eager.accumulate, pre.inputs, pre.flags, torch.float32, "cpu")[0])
        with_bg.append(measure(torch_eager.accumulate, *fused, torch.float32, "cpu")[0])
    return min(with_bg) - min(plain)


def spots_overhead(repeats: int) -> list:
    """Per case: the spots-only render and the same render with water + air: cold (the first
    render of a geometry: the components inside the spots kernel where `components.in_kernel`
    serves the render), cold in their own pass (as before that), warm (a later render: the
    component images of the geometry are kept) and cold with new tables, each right after a
    spots-only render: the median over ``repeats`` of the paired differences; and the
    components' step inside the kernel alone."""
    rows = []
    for name in ("W1", "W3", "W4"):
        args = cases.args(name)
        mode = os.environ.get("NANOBRAG_COMPILE")
        os.environ["NANOBRAG_COMPILE"] = "1"     # warm-up: build or load the packages now
        try:                                     # (auto builds a numba-covered kind at exit)
            for _ in range(3):
                result = nb_run(args + COMPONENTS)
                nb_run(args)
        finally:
            if mode is None:
                os.environ.pop("NANOBRAG_COMPILE")
            else:
                os.environ["NANOBRAG_COMPILE"] = mode
        s, pre = result.settings, result.pre
        _forget_geometry()
        fused = components.in_kernel(pre, s.backgrounds, s.beamsize_m)
        plain, step = [], []
        diffs: dict = {"cold": [], "separate": [], "warm": [], "fresh": []}
        prepare = {"cold": _forget_geometry, "separate": lambda: _separate_next(pre, s),
                   "warm": lambda: None, "fresh": lambda: _forget_geometry(tables=True)}
        for _ in range(repeats):
            for variant, diff in diffs.items():         # each right after a spots-only render
                plain.append(measure(nb_run, args)[0])
                prepare[variant]()
                diff.append(measure(nb_run, args + COMPONENTS)[0] - plain[-1])
            if fused is not None:
                step.append(_kernel_step(pre, fused))
        spots = statistics.median(plain)
        cost = {v: statistics.median(d) for v, d in diffs.items()}
        cell = lambda x: f"{x * 1e3:+.2f} ms ({100 * x / spots:+.1f} %)"      # noqa: E731
        kernel = cell(statistics.median(step)) if step else "- (own pass)"
        rows.append(f"| {name} | {spots * 1e3:.2f} ms | {cell(cost['cold'])} | {kernel} "
                    f"| {cell(cost['separate'])} | {cell(cost['warm'])} | {cell(cost['fresh'])} "
                    f"| {'PASS' if cost['warm'] <= 0.1 * spots else 'FAIL'} warm, "
                    f"{'PASS' if cost['cold'] <= 0.1 * spots else 'FAIL'} cold |")
    return rows


def compiled_on_disk() -> str:
    """What compiled code is on disk before this run: the AOT packages of the spots kernels
    and numba's cache of the background kernels (warm: loaded, not built, by the warm-up)."""
    from nanobrag_torch.backends.aot_cache import cache_dir
    packages = sorted(cache_dir().glob("*.pt2")) if cache_dir().is_dir() else []
    numba_dir = ROOT / "src" / "nanobrag_torch" / "nonbragg" / "__pycache__"
    kernels = sorted(numba_dir.glob("fast*.nbi")) if numba_dir.is_dir() else []
    return (f"{len(packages)} AOT package(s) in {cache_dir()} and {len(kernels)} numba cache index(es) "
            f"of the background kernels ({'warm' if kernels else 'cold: the warm-up compiles them'})")


def fresh_process(name: str) -> tuple:
    """(seconds of the first render with the components in a new process minus its spots-only
    render there, whether numba got imported) for case ``name``: the second render runs
    first in the process of its kind, so both load their package (the spots package before)."""
    code = (f"import sys, time; from bench import cases; COMPONENTS = {COMPONENTS!r}; "
            "from nanobrag_torch.simulate import run; from nanobrag_torch import keep_freed_memory; "
            f"keep_freed_memory(); a = cases.args({name!r}); run(a); t = time.perf_counter(); run(a); "
            "t1 = time.perf_counter(); run(a + COMPONENTS); t2 = time.perf_counter(); "
            "print(t2 - t1 - (t1 - t), 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=ROOT, env=dict(os.environ))
    seconds, numba = out.stdout.split()[-2:]
    return float(seconds), numba == "True"


def main(argv=None) -> None:
    keep_freed_memory()             # as the command-line tools do: large temporaries are not re-faulted
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "reports" / "nonbragg.md"))
    a = parser.parse_args(argv)
    wait_for_background_builds()    # a build beside the renders would time the build
    on_disk = compiled_on_disk()
    load = os.getloadavg()
    c_rows = side_by_side(a.repeats)
    overhead = spots_overhead(a.repeats)
    fresh = fresh_process("W1")      # after the warm-up there built every package it needs
    lines = ["# nonBragg background: speed against nonBragg.c", "",
             "Written by `python -m bench.nonbragg` (do not edit by hand).", "",
             "Provenance: " + ", ".join(f"{k} {v}" for k, v in stamp().items()) + ".",
             f"Load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on a 2-core machine "
             "shared with other jobs: absolute times are contaminated; the ratios compare runs "
             "interleaved in the same minutes.", "",
             "## 1. 2048^2 background: in process vs nonBragg.c's whole process", "",
             f"C: `{Path(C_BINARY).name}` (OMP_NUM_THREADS=2, writes float/int/PGM files); ours: "
             "`nanobrag_torch.nonbragg.api.run(args)` in a warm process (float32, compiled CPU "
             f"path). Min of {a.repeats} interleaved runs each, wall / CPU seconds (CPU: user + "
             "system of all threads; the C's from its rusage). Acceptance: wall ratio <= 0.5 at "
             "2048^2.", "",
             "| detector | C whole process wall / CPU (s) | ours in process wall / CPU (s) | wall ratio "
             "| CPU ratio | acceptance |",
             "|---|---|---|---|---|---|", *c_rows, "",
             "## 2. Water + air added to a spots render", "",
             f"Compiled code on disk at the start: {on_disk}.", "",
             "Same nanoBragg command line (bench/cases.py) with and without "
             f"`{' '.join(COMPONENTS)}`, backend auto, float32, {a.repeats} interleaved repeats, "
             "freed memory kept in the heap as the command-line tools keep it. Each render with "
             "the components runs right after a spots-only render and costs the difference of "
             "the two walls; the table gives the median over the repeats of these paired "
             "differences (a min against a min took a lucky spots render as the base and "
             "read the ~0.2 ms warm addition as +15 %), with the median spots-only wall. Cold "
             "= the first render of a detector geometry: where `components.in_kernel` serves "
             "the render (c-mode sum without order-dependent state, flat single panel, one "
             "source and one sub-pixel) and the package of that kind exists, the components' "
             "scaled sum is interpolated inside the spots kernel (`torch_kernel.background_sum`: "
             "one pass over the geometry); otherwise (W3: 9 sources) they take their own pass "
             "through the compiled background kernel (nonbragg/fast32.py). Own pass, cold = the "
             "same first render forced through that own pass (the form before the in-kernel "
             "sum). Warm = a later render of the same geometry (the component images are kept "
             "and added, inside the spots kernel after its scaling to photons where "
             "`components.kept_in_kernel` serves the render: every pixel of one panel, package "
             "ready; many crystals, one detector). New tables = cold after dropping the "
             "node, cell and kernel-field tables too (built once per table and wavelength range "
             "in a process). Kernel step = the spots accumulation with the components inside "
             "minus without (min of 3 pairs per repeat, median over the repeats). Acceptance: "
             "at most 10 % of the spots-only render, cold and warm verdicts given separately.", "",
             "| case | spots only (median) | + water + air, cold | kernel step (cold) "
             "| + water + air, own pass, cold | + water + air, warm | cold, new tables | acceptance |",
             "|---|---|---|---|---|---|---|---|", *overhead, "",
             "First render with the components in a fresh process (W1, after two spots renders "
             "there; the extra time over a spots render): {:.3f} s, numba imported: {} (the "
             "components' own pass loads its numba kernel, ~0.5 s once per process).".format(*fresh), ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
