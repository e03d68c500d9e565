"""CI speed-regression gate that survives noisy shared machines.

    python -m bench.regression --check     # every CI run (tests/run.sh)
    python -m bench.regression --update    # refresh this CPU's entry of bench/baseline.json
    python -m bench.regression --proof     # reports/bench_regression.md: passes, then fails
                                           # with the compiled kernel slowed 1.5x

Gated measurements (`GATED`): the small eager cases of `bench.cases.CI_CASES` (``simulate``
end to end, eager kernels: set-up included) and the accumulation of `COMPILED_CASE` through
the compiled fused kernel (its package is built once per cache, before timing).  The eager
cases run single-threaded, the compiled case's kernel calls on every core (its package's
OpenMP team follows the process's thread setting, and its baselines were recorded so); all
alternately with a calibration workload (element-wise transcendental work
in cache, pure torch) in the same job; a normalised time is the fastest measurement
over the fastest calibration time (noise on a shared machine only ever adds time, and
alternating keeps bursts of contention from favouring either).  A measurement over
its threshold (`THRESHOLD` x its baseline; `LOOSE` for the end-to-end cases below) is
repeated, up to `ATTEMPTS` times in all, each re-attempt in a new process (a process keeps its
speed: the compiled case reads 11-12 ms in some processes and 14-16 ms in others, the same
within each), and fails only when it is over every time (a slowed kernel stays slow, a noise
burst or a slow process does not).  An attempt whose calibration ran more than
`BUSY_CALIBRATION` x slower than the baseline's clears nothing: under heavy contention the
calibration slows more than the cases (seen: calibration 10.6 ms against 7.3 ms, a kernel
slowed 1.5x then read 1.28-1.29 and passed).  The kernel-bound measurements (``ci_W3`` eager,
the compiled case) catch a 1.5x slower kernel at 1.5-1.7x; ``ci_W1`` and ``ci_W4`` (~8 ms,
set-up included) show it only at ~1.3x but read 1.35-1.66x in the machine's slow spells (the
calibration itself 1.2-1.3x slower), so they are held to `LOOSE`: they catch gross
regressions of the set-up path without failing CI on noise.  ``--slowdown K``
makes the fused kernels (eager and compiled) do K times their work, to prove the gate
catches a slowed kernel.

Baselines are per CPU model (`bench.provenance.cpu_model`): the calibration does not carry
across CPU families (on an AMD EPYC it ran 2.2x slower than on the Intel Xeon of the first
baseline while the gated cases ran 1.3-1.6x faster, so one baseline read every case at
0.35-0.40x and would have hidden a 1.5x slowdown).  On a CPU with no baseline the gate
compares against each recorded one, keeps the most favourable ratio and holds it to
`UNKNOWN_CPU_LIMIT` (gross regressions only), and says how to record this CPU's baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from bench import cases
from bench.provenance import ROOT, cpu_model, stamp
from nanobrag_torch.heap import keep_freed_memory

BASELINE = Path(__file__).with_name("baseline.json")
THRESHOLD = 1.3
LOOSE = {"ci_W1": 2.0, "ci_W4": 2.0}      # end-to-end cases dominated by set-up (module doc)
UNKNOWN_CPU_LIMIT = 3.0                   # a CPU model with no baseline of its own (module doc)
REPEATS = 7
ATTEMPTS = 5      # a measurement fails only if it is over the threshold in every attempt
BUSY_CALIBRATION = 1.2    # an attempt whose calibration is slower than this x the baseline's clears nothing
COMPILED_CASE = "ci_W3c"
GATED = [*cases.CI_CASES, f"{COMPILED_CASE}/compiled"]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def calibration_work():
    """A fixed mix of element-wise work (sin, sqrt, div, exp) on 64K floats held in cache,
    written into preallocated buffers: compute alone, no allocation or page faults (an
    allocating calibration on 8 MB tensors was bimodal, 14 ms or 25 ms, by process)."""
    x = torch.rand(1 << 16, generator=torch.Generator().manual_seed(0))
    y, z = torch.empty_like(x), torch.empty_like(x)

    def work():
        for _ in range(40):
            torch.sin(x, out=y)
            torch.sqrt(x, out=z)
            y.div_(z.add_(1.0))
            torch.exp(y, out=z)
    return work


def _slow(k: float) -> None:
    """Make the fused kernels do k times their work (whole repeats, then a fraction of the
    columns: a block's per-row panel frames follow its rows, so rows are not sliced)."""
    from nanobrag_torch.backends import compile_policy, torch_eager

    def slowed(run):
        def fn(si, fi, *rest):
            out = run(si, fi, *rest)
            for _ in range(int(k) - 1):
                run(si, fi, *rest)
            cols = round((k - int(k)) * fi.shape[-1])
            if cols and fi.dim() == 2 and fi.shape[0] == 1:
                run(si, fi[:, :cols], *rest)
            return out
        return fn
    original_call = compile_policy._compiled
    compile_policy._compiled = lambda runner, si, fi, kk: slowed(
        lambda a, b, c: original_call(runner, a, b, c))(si, fi, kk)
    torch_eager.tk.fused_chunk = slowed(torch_eager.tk.fused_chunk)
    compile_policy.tk.fused_chunk = torch_eager.tk.fused_chunk


def _runner(name: str):
    """A function timing one measurement of `name` ("case" or "case/compiled")."""
    from nanobrag_torch import simulate
    from nanobrag_torch.simulate import DTYPES, configure, _precompute
    case, _, mode = name.partition("/")
    args = cases.args(case)
    if mode != "compiled":
        os.environ["NANOBRAG_COMPILE"] = "0"
        return lambda: simulate(args)
    from nanobrag_torch.backends import torch_eager
    os.environ["NANOBRAG_COMPILE"] = "1"
    _, cfg = configure(args)
    pre = _precompute(cfg, None, None)

    def run():          # on every core, as the baselines were recorded (module doc)
        torch.set_num_threads(os.cpu_count() or 1)
        try:
            return torch_eager.accumulate(pre.inputs, pre.flags, DTYPES[cfg.dtype], cfg.device)
        finally:
            torch.set_num_threads(1)
    return run


def measure(names=None) -> dict:
    cal_fn = calibration_work()
    cal_times, out = [], {"cases": {}}
    for name in names or GATED:
        run = _runner(name)
        run()                                            # warm-up (file reads, package build/load)
        times = []
        for _ in range(REPEATS):
            cal_times.append(_timed(cal_fn))
            times.append(_timed(run))
        out["cases"][name] = {"seconds": min(times)}
    cal = min(cal_times)
    out["calibration_s"] = cal
    for entry in out["cases"].values():
        entry["normalised"] = entry["seconds"] / cal
    return out


def _measure_in_new_process(names: list, slowdown: float) -> dict:
    """`measure(names)` in a fresh interpreter: a process keeps its speed for its lifetime
    (the compiled case read 11.2 ms three times in one process and 14.1 ms three times in the
    next; module doc), so a re-attempt in the same process would repeat a slow one."""
    import subprocess
    proc = subprocess.run([sys.executable, "-m", "bench.regression", "--measure", ",".join(names),
                           "--slowdown", repr(slowdown)], capture_output=True, text=True, cwd=ROOT,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wait_for_background_builds(limit_s: float = 300.0) -> None:
    """Wait (at most `limit_s`) until no package build of this package runs on the machine:
    in CI the test suites' processes leave builds running at exit (`compile_policy`), and
    the gate's first attempt then read the calibration 9.7 ms against 7.3 (Linux: /proc)."""
    from nanobrag_torch.backends import aot_cache
    builder = aot_cache.__name__.encode()          # `aot_cache.start_build` runs ``-m`` it
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        running = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if builder in cmdline.read_bytes():
                    running.append(cmdline.parent.name)
            except OSError:
                continue
        if not running:
            return
        print(f"waiting for background kernel builds to finish (pids {', '.join(running)})",
              flush=True)
        time.sleep(5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="CI speed-regression gate")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--update", action="store_true")
    mode.add_argument("--proof", action="store_true", help="write reports/bench_regression.md")
    mode.add_argument("--measure", metavar="NAMES", help="print the measurements of the comma-"
                      "separated gated NAMES as JSON (a re-attempt of --check runs in one)")
    ap.add_argument("--slowdown", type=float, default=1.0,
                    help="make the fused kernels do K times their work (proof)")
    a = ap.parse_args(argv)
    if a.proof:
        return proof()
    keep_freed_memory()             # as the CLIs do: large temporaries are not re-faulted
    torch.set_num_threads(1)        # one thread: a busy second core must not make torch's
                                    # parallel regions straggle (seen: 8 ms -> 780 ms)
    if a.slowdown != 1.0:
        _slow(a.slowdown)
    if a.measure:
        print(json.dumps(measure(a.measure.split(","))))
        return 0
    wait_for_background_builds()
    got = measure()
    if a.update:        # the faster of two rounds per measurement: a noise burst must not
        again = measure()   # inflate the baseline (it would hide a real slowdown)
        for name, entry in again["cases"].items():
            if entry["normalised"] < got["cases"][name]["normalised"]:
                got["cases"][name] = entry
        machines = _baselines()
        machines[cpu_model()] = {"stamp": stamp(), **got}
        BASELINE.write_text(json.dumps({"machines": machines}, indent=1) + "\n")
        print(f"wrote {BASELINE} ({cpu_model()})")
        return 0
    machines = _baselines()
    base = machines.get(cpu_model())
    if base is None:
        print(f"no speed baseline for this CPU ({cpu_model()}): checking against the baselines of "
              f"{', '.join(machines)} at {UNKNOWN_CPU_LIMIT}x; record one with "
              "python -m bench.regression --update")
    suspects = list(got["cases"])
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            print(f"re-measuring {', '.join(suspects)} in a new process (attempt {attempt} of "
                  f"{ATTEMPTS})")
            got = _measure_in_new_process(suspects, a.slowdown)
        if base is None:
            suspects = [name for name in suspects
                        if min(_report(name, got["cases"][name], b, UNKNOWN_CPU_LIMIT)
                               for b in machines.values()) > UNKNOWN_CPU_LIMIT]
        else:
            busy = got["calibration_s"] > BUSY_CALIBRATION * base["calibration_s"]
            print(f"calibration {got['calibration_s'] * 1e3:.1f} ms (baseline "
                  f"{base['calibration_s'] * 1e3:.1f} ms, {cpu_model()})"
                  + ("; the machine is busy: this attempt clears nothing" if busy else ""))
            suspects = [name for name in suspects
                        if _report(name, got["cases"][name], base) > _limit(name) or busy]
        if not suspects:
            return 0
    print(f"speed regression over the threshold in every one of {ATTEMPTS} measurements (or "
          f"measured only on a busy machine): {', '.join(suspects)}")
    return 1


def proof() -> int:
    """Run the gate as CI does (twice), then with the kernels slowed 1.5x; write the report.
    Non-zero unless the unmodified runs pass and the slowed run fails."""
    import subprocess
    runs = [("Unmodified engine", []), ("Unmodified engine, again", []),
            ("Fused kernels slowed 1.5x (`--slowdown 1.5`)", ["--slowdown", "1.5"])]
    lines = ["# CI speed-regression gate: proof that it catches a 1.5x slower kernel", "",
             f"Stamp: {', '.join(f'{k} {v}' for k, v in stamp().items())}", "",
             "Written by `python -m bench.regression --proof`.  Gate: `python -m bench.regression "
             "--check` (in `tests/run.sh`); see the module doc of `bench/regression.py`.  "
             f"Threshold {THRESHOLD}x the baseline ({', '.join(f'{k} {v}x' for k, v in LOOSE.items())}; "
             f"`bench/baseline.json`, this CPU's baseline stamp "
             f"{_baselines().get(cpu_model(), {}).get('stamp', {}).get('git', 'none')}); a measurement over it is "
             f"repeated and fails only when over in all {ATTEMPTS} attempts.  The machine is "
             "shared with other jobs: the calibration time shows how loaded it was.", ""]
    codes = []
    for title, extra in runs:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "bench.regression", "--check", *extra],
                              capture_output=True, text=True, cwd=ROOT)
        codes.append(proc.returncode)
        lines += [f"## {title}", "", "```", proc.stdout.strip(),
                  f"exit status {proc.returncode} ({time.perf_counter() - t0:.0f} s)", "```", ""]
    ok = codes[0] == 0 and codes[1] == 0 and codes[2] != 0
    lines.append(f"Result: {'the gate passes on the unmodified engine and fails on the slowed kernel' if ok else 'PROOF FAILED'}.")
    out = ROOT / "reports" / "bench_regression.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0 if ok else 1


def _baselines() -> dict:
    """CPU model -> baseline (stamp, cases, calibration) of bench/baseline.json."""
    return json.loads(BASELINE.read_text())["machines"] if BASELINE.exists() else {}


def _limit(name: str) -> float:
    """The ratio to the baseline over which measurement `name` is a regression."""
    return LOOSE.get(name, THRESHOLD)


def _report(name: str, cur: dict, base: dict, limit: float | None = None) -> float:
    limit = _limit(name) if limit is None else limit
    ref = base["cases"][name]["normalised"]
    ratio = cur["normalised"] / ref
    print(f"{name:16s} {cur['seconds'] * 1e3:8.1f} ms  normalised {cur['normalised']:7.2f}  "
          f"baseline {ref:7.2f} ({base['stamp']['cpu']})  ratio {ratio:5.2f} (limit {limit})  "
          f"{'REGRESSION' if ratio > limit else 'ok'}")
    return ratio


if __name__ == "__main__":
    raise SystemExit(main())
