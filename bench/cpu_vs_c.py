"""Speed against nanoBragg.c, side by side -> reports/cpu_vs_c.md (written by this command).

    python -m bench.cpu_vs_c --c-bin /path/to/nanoBragg [--rows W3,batch,still,W1,W2,W4]

Every row runs the C and ours alternately in this one invocation, ``--rounds`` times (default
2), with 2 threads each (``OMP_NUM_THREADS=2``; torch reads it), as whole processes unless
the row says otherwise; each side's time is its fastest round (the machine is shared: noise
only adds time, and the C's 100-process batch alone ranged 14.5-18.5 s across runs), the
ratio is of the two fastest, and the notes give every round's times.  Images are compared
(correlation, sum ratio).  Dirty pages are written back (``sync``) before each timed run, so
no run waits on the writeback of the one before.  A cold state runs ours on a kernel cache
(``NANOBRAG_CACHE``) created empty for that round, so the first use of its kind of render is a
cold start (its inductor artefacts live in the same directory, see `aot_cache`); the warm
state of the round reuses that cache once its background build has finished, and the
packages built are then kept in one cache shared by the rows below ("as left by the rows
above"):

- ``W3``: cold (empty cache: numba compiles the step sum and renders; the package is
  built in the background when the process exits, `compile_policy`), then warm
  (package built);
- ``batch``: 100 different orientations of a 1024^2 render (W4 with random ``-misset``): the
  C's 100 processes against one ``nanoBragg -batch FILE`` process, cold then warm;
- ``still``: the realistic still (`bench.cases.STILL`), per image: 4 random orientations
  through `simulate_many` in one process (start-up and the first shot included), cold then
  warm, against the C's whole process for one of those orientations;
- ``W1``, ``W2``, ``W4``: one whole process each (no package is built for renders that
  small in one process: eager unless an earlier row built that kind).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import cases
from bench.provenance import ROOT, stamp_line
from nanobrag_torch.compare import OUTPUT_FLAGS, detector_shape, metrics, run_c, run_ours_process
from nanobrag_torch.many import random_shot

THREADS = 2
BATCH = 100
STILL_SHOTS = 4
STILL_SCRIPT = """
import sys
from nanobrag_torch.many import random_shot, simulate_many
shots = [random_shot(7, k) for k in range({n})]
for s in simulate_many(sys.argv[1:], shots):
    pass
"""


def _env(cache: Path) -> dict:
    return dict(os.environ, NANOBRAG_CACHE=str(cache), OMP_NUM_THREADS=str(THREADS))


def _quiet_disk() -> None:
    """Write back every dirty page before a timed run, so that no run waits on the disk for
    the files of the run before it (the C's 100 processes leave ~600 MB to write back, and
    replacing a file whose pages are being written back waits for them)."""
    os.sync()


def wait_builds(cache: Path) -> None:
    """Wait until no background build holds a lock in `cache` (a cold run starts one)."""
    while any(cache.glob("*.lock")):
        time.sleep(0.5)


def _row(name: str, state: str, c_s: list, ours_s: list, m: dict, note: str = "") -> str:
    """A table row: the fastest round of each side, their ratio, every round in the notes."""
    rounds = (f"rounds: C {', '.join(f'{t:.2f}' for t in c_s)} s; ours "
              f"{', '.join(f'{t:.2f}' for t in ours_s)} s")
    return (f"| {name} | {state} | {min(c_s):.2f} s | {min(ours_s):.2f} s | "
            f"**{min(ours_s) / min(c_s):.3f}** | {m['correlation']:.6f} | {m['sum_ratio']:.6f} | "
            f"{'; '.join(x for x in (note, rounds) if x)} |")


class Caches:
    """Kernel caches of one bench run: an empty one per cold round (`fresh`), and `shared`,
    which collects every package built (`keep`) for the rows that run as left above."""

    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0
        self.shared = self.fresh()

    def fresh(self) -> Path:
        self.count += 1
        path = self.root / f"cache{self.count}"
        path.mkdir()
        return path

    def keep(self, cache: Path) -> None:
        wait_builds(cache)
        for package in cache.glob("*.pt2"):
            if not (self.shared / package.name).exists():
                shutil.copy2(package, self.shared / package.name)


def _rounds(states: list, caches: Caches, rounds: int, c_run, ours_run) -> dict:
    """{state: (C seconds per round, ours per round, last C result, last ours result)}: per
    round the C, then ours in each state (cold: an empty cache; warm: that cache, once its
    build has finished; any other state: the shared cache)."""
    out = {state: ([], [], None, None) for state in states}
    for _ in range(rounds):
        _quiet_disk()
        c_result, c_s = c_run()
        cache = caches.fresh() if "cold" in states else caches.shared
        for state in states:
            if state == "warm":
                wait_builds(cache)
            _quiet_disk()
            ours_result, ours_s = ours_run(cache)
            cs, os_, _, _ = out[state]
            out[state] = (cs + [c_s], os_ + [ours_s], c_result, ours_result)
        caches.keep(cache)
    return out


def _process_rows(name: str, c_bin: str, caches: Caches, work: Path, states: list,
                  rounds: int) -> list:
    flags = cases.args(name)
    shape = detector_shape(flags)
    got = _rounds(states, caches, rounds, lambda: run_c(c_bin, flags, work, THREADS),
                  lambda cache: run_ours_process(flags, "float32", work, THREADS, env=_env(cache)))
    return [_row(name, state, c_s, ours_s, metrics(ours.reshape(shape), ref.reshape(shape)))
            for state, (c_s, ours_s, ref, ours) in got.items()]


def _batch_rows(c_bin: str, caches: Caches, work: Path, rounds: int) -> list:
    base = cases.args("W4")
    misset = [random_shot(1, k)["misset"] for k in range(BATCH)]
    lines = [" ".join(base + ["-misset", *map(repr, m), "-floatfile", f"b{k}.bin", "-intfile",
                              f"b{k}.img", *OUTPUT_FLAGS]) for k, m in enumerate(misset)]
    (work / "batch.txt").write_text("# 100 orientations of W4\n" + "\n".join(lines) + "\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
    shape = detector_shape(base)

    def c_run():
        t0 = time.perf_counter()
        for k, m in enumerate(misset):
            subprocess.run([c_bin, *base, "-misset", *map(repr, m), "-floatfile", f"c{k}.bin",
                            "-dump", "Fdump.bin", *OUTPUT_FLAGS], cwd=work, env=env, check=True,
                           capture_output=True)
        return None, time.perf_counter() - t0

    def ours_run(cache):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "nanobrag_torch", "-batch", "batch.txt"],
                              cwd=work, env=_env(cache), capture_output=True, text=True)
        ours_s = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(f"batch failed: {proc.stderr[-2000:]}")
        worst = min((metrics(np.fromfile(work / f"b{k}.bin", "<f4").reshape(shape),
                             np.fromfile(work / f"c{k}.bin", "<f4").reshape(shape))
                     for k in (0, BATCH // 2, BATCH - 1)), key=lambda m: m["correlation"])
        return worst, ours_s

    got = _rounds(["cold", "warm"], caches, rounds, c_run, ours_run)
    return [_row(f"{BATCH} x W4 orientations (-batch)", state, c_s, ours_s, worst,
                 "C: 100 processes; ours: one -batch process; worst of 3 images compared")
            for state, (c_s, ours_s, _, worst) in got.items()]


def _still_rows(c_bin: str, caches: Caches, work: Path, rounds: int) -> list:
    flags = cases.args("still")
    shot = random_shot(7, 0)
    c_flags = list(flags)
    i = c_flags.index("-misset")
    c_flags[i + 1:i + 4] = map(repr, shot["misset"])
    script = work / "still.py"
    script.write_text(STILL_SCRIPT.format(n=STILL_SHOTS))

    def ours_run(cache):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(script), *flags], cwd=work, env=_env(cache), check=True,
                       capture_output=True)
        return cache, (time.perf_counter() - t0) / STILL_SHOTS

    got = _rounds(["cold", "warm"], caches, rounds, lambda: run_c(c_bin, c_flags, work, THREADS),
                  ours_run)
    probe = ("import sys\nfrom nanobrag_torch.many import random_shot, simulate_many\n"
             "img = next(simulate_many(sys.argv[2:], [random_shot(7, 0)])).image\n"
             "img.float().numpy().tofile(sys.argv[1])\n")
    _, _, ref, cache = got["warm"]
    subprocess.run([sys.executable, "-c", probe, str(work / "still0.bin"), *flags], cwd=work,
                   env=_env(cache), check=True, capture_output=True)
    shape = detector_shape(flags)
    m = metrics(np.fromfile(work / "still0.bin", "<f4").reshape(shape), ref.reshape(shape))
    return [_row("still (per image)", state, c_s, ours_s, m,
                 f"ours: whole process / {STILL_SHOTS} shots of simulate_many, first included; "
                 "C: one whole process") for state, (c_s, ours_s, _, _) in got.items()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cpu_vs_c", description=__doc__.splitlines()[0])
    ap.add_argument("--c-bin", default=os.environ.get("NB_C_BIN"), required=False)
    ap.add_argument("--rows", default="W3,batch,still,W1,W2,W4")
    ap.add_argument("--out", default=str(ROOT / "reports" / "cpu_vs_c.md"))
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of C and ours per row")
    a = ap.parse_args(argv)
    if not a.c_bin:
        ap.error("give the nanoBragg.c binary with --c-bin or NB_C_BIN")
    t_start = time.perf_counter()
    load, provenance = os.getloadavg(), stamp_line()      # the code measured: stamp it first
    table = ["| workload | kernel cache | C | ours | ours / C | correlation | sum ratio | notes |",
             "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        caches = Caches(Path(tmp))
        for row in a.rows.split(","):
            work = Path(tmp) / f"work_{row}"     # its own directory: the C reads a stale
            work.mkdir()                         # ./Fdump.bin when a run has no -hkl
            if row == "W3":
                table += _process_rows("W3", a.c_bin, caches, work, ["cold", "warm"], a.rounds)
            elif row == "batch":
                table += _batch_rows(a.c_bin, caches, work, a.rounds)
            elif row == "still":
                table += _still_rows(a.c_bin, caches, work, a.rounds)
            else:
                table += _process_rows(row, a.c_bin, caches, work, ["as left by the rows above"],
                                       a.rounds)
            print(table[-1], flush=True)
    text = ["# CPU speed versus nanoBragg.c", "", f"Stamp: {provenance}", "",
            f"Written by `python -m bench.cpu_vs_c --c-bin nanoBragg --rows {a.rows} --rounds "
            f"{a.rounds}` in "
            f"{time.perf_counter() - t_start:.0f} s (see its module doc for what each row times).  "
            f"C: nanoBragg.c (`gcc -O3 -fopenmp`, built beside the project, not committed); "
            f"both with {THREADS} threads, float32 for ours, alternating in this run; each side's "
            "fastest round, every round in the notes.", "",
            f"Machine load when the run started (1, 5, 15 min): {load[0]:.1f}, {load[1]:.1f}, "
            f"{load[2]:.1f} on {os.cpu_count()} cores.  The machine is shared with other jobs: "
            "absolute times are inflated and noisy; the ratios compare runs made seconds apart.",
            "", *table, ""]
    Path(a.out).write_text("\n".join(text) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
