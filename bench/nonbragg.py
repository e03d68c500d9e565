"""Background speed -> reports/nonbragg.md: ``python -m bench.nonbragg``.

1. nonBragg.c's whole process (2 threads; `NONBRAGG_C`, default /work/cbin/nonBragg) against
   our in-process render (parse + resolve + render through `nanobrag_torch.nonbragg.api`) of the
   same command line, 1024^2 and 2048^2 water, measured side by side, interleaved, min of N.
   Acceptance: 2048^2 at most 0.5x the C.
2. A spots render (bench cases W1, W3, W4) with and without water + air components in the
   same render (a new geometry, and a cached one), and the component step alone (cold and
   cached; and the first one of a fresh process, which loads the compiled background
   kernel). Acceptance: at most 10 %, end to end and as the step alone.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "2"

from bench import cases  # noqa: E402
from bench.provenance import ROOT, stamp  # noqa: E402
import torch  # noqa: E402

from nanobrag_torch.heap import keep_freed_memory  # noqa: E402
from nanobrag_torch.nonbragg.api import run as bg_run  # noqa: E402
from nanobrag_torch.nonbragg import components, fast32  # noqa: E402
from nanobrag_torch.nonbragg.components import render_components  # noqa: E402
from nanobrag_torch.simulate import run as nb_run  # noqa: E402

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


def spots_overhead(repeats: int) -> list:
    """Per case: spots-only render, the same render with water + air, warm (the component
    images of this geometry are cached) and cold (cache cleared: the first render of a
    geometry), and the component step alone, cold and warm; interleaved, min of ``repeats``."""
    rows = []
    for name in ("W1", "W3", "W4"):
        args = cases.args(name)
        mode = os.environ.get("NANOBRAG_COMPILE")
        os.environ["NANOBRAG_COMPILE"] = "1"     # warm-up: build or load the package now
        try:                                     # (auto builds a numba-covered kind at exit)
            for _ in range(2):
                result = nb_run(args + COMPONENTS)
                nb_run(args)
        finally:
            if mode is None:
                os.environ.pop("NANOBRAG_COMPILE")
            else:
                os.environ["NANOBRAG_COMPILE"] = mode
        s, pre = result.settings, result.pre
        plain, both, both_cold, cold, fresh, warm = [], [], [], [], [], []
        step = (render_components, pre, s.backgrounds, s.beamsize_m, torch.float32, "cpu")
        for _ in range(repeats):
            plain.append(measure(nb_run, args))
            both.append(measure(nb_run, args + COMPONENTS))
            components._IMAGES.clear()
            both_cold.append(measure(nb_run, args + COMPONENTS))
            components._IMAGES.clear()
            cold.append(measure(*step))
            warm.append(measure(*step))
            components._IMAGES.clear()
            fast32._NODES.clear()
            fast32._CELLS.clear()
            fresh.append(measure(*step))
        (pw, pc), (bw, bc), (ew, ec), (cw, cc), (fw, _), (ww, _) = (
            best(plain), best(both), best(both_cold), best(cold), best(fresh), best(warm))
        cold_ok = cw / pw <= 0.10 and ew / pw <= 1.10
        rows.append(f"| {name} | {pw:.4f} / {pc:.3f} | {bw:.4f} / {bc:.3f} ({100 * (bw / pw - 1):+.1f} %) "
                    f"| {ew:.4f} / {ec:.3f} ({100 * (ew / pw - 1):+.1f} %) "
                    f"| {cw:.4f} / {cc:.4f} ({100 * cw / pw:.1f} %) | {fw:.3f} ({100 * fw / pw:.0f} %) "
                    f"| {ww:.4f} ({100 * ww / pw:.2f} %) "
                    f"| {'PASS' if ww / pw <= 0.10 and bw / pw <= 1.10 else 'FAIL'} warm, "
                    f"{'PASS' if cold_ok else 'FAIL'} cold |")
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


def fresh_process(name: str) -> float:
    """Seconds of the component step of case ``name`` in a new process, after one spots
    render there: the first background render of the process (loads the numba kernel)."""
    code = ("import sys, time, torch; from bench import cases; from bench.nonbragg import COMPONENTS; "
            "from nanobrag_torch.simulate import configure, run, _precompute; "
            "from nanobrag_torch.nonbragg.components import render_components; "
            f"run(cases.args({name!r})); s, cfg = configure(cases.args({name!r}) + COMPONENTS); "
            "pre = _precompute(cfg, None, None); t = time.perf_counter(); "
            "render_components(pre, s.backgrounds, s.beamsize_m, torch.float32, 'cpu'); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=ROOT, env=dict(os.environ))
    return float(out.stdout.split()[-1])


def main(argv=None) -> None:
    keep_freed_memory()             # as the command-line tools do: large temporaries are not re-faulted
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "reports" / "nonbragg.md"))
    a = parser.parse_args(argv)
    on_disk = compiled_on_disk()
    load = os.getloadavg()
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
             "|---|---|---|---|---|---|", *side_by_side(a.repeats), "",
             "## 2. Water + air added to a spots render", "",
             f"Compiled code on disk at the start: {on_disk}.", "",
             "Same nanoBragg command line (bench/cases.py) with and without "
             f"`{' '.join(COMPONENTS)}`, backend auto, float32, min of {a.repeats} interleaved runs, "
             "freed memory kept in the heap as the command-line tools keep it. Cold = the first "
             "render of a detector geometry (the component images cache cleared: both components "
             "rendered), warm = a later render of the same geometry (the component images are "
             "cached: many crystals, one detector). The cost of the components is measured end to "
             "end (render with components against the spots-only render) and as the component "
             "step alone (`render_components` on the render's geometry), which the machine's load "
             "moves less. Wall seconds (CPU seconds of all threads after the slash for the renders). "
             "Acceptance: at most 10 % of the spots-only render, both ways; cold and warm verdicts "
             "given separately. The components are "
             "rendered in float32 by the compiled background kernel (nonbragg/fast32.py), both in "
             "one pass over the geometry that interpolates their tabulated, scaled sum.", "",
             "New tables = the same cold step after dropping the per-table node and cell "
             "tables too (built once per table and wavelength range in a process).", "",
             "| case | spots only wall / CPU (s) | spots + water + air (warm) wall / CPU (s) "
             "| spots + water + air (cold) wall / CPU (s) "
             "| component step cold wall / CPU (s) | cold, new tables (s) | component step warm (s) "
             "| acceptance |",
             "|---|---|---|---|---|---|---|---|", *spots_overhead(a.repeats), "",
             f"First component step of a fresh process (W1, after one spots render there; loads "
             f"the numba kernel from its disk cache): {fresh_process('W1'):.3f} s, once per process.", ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
