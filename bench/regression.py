"""CI speed-regression gate that survives noisy shared machines.

    python -m bench.regression --check     # every CI run (tests/run.sh)
    python -m bench.regression --update    # refresh bench/baseline.json (one command)

Each small case of `bench.cases.CI_CASES` is rendered single-threaded (eager kernels, so
no compile time enters) alternately with a calibration workload (element-wise transcendental work of a
similar mix, pure torch) in the same job; the normalised time is the fastest case time over
the fastest calibration time (noise on a shared machine only ever adds time, and
alternating the two keeps bursts of contention from favouring either).  A case over the
threshold is measured again, up to `ATTEMPTS` times in all; it fails only when every
measurement is over (a slowed kernel stays slow, a noise burst does not).  The gate fails
when a case's normalised time exceeds `THRESHOLD` x its baseline: only a large regression
trips it, not machine noise.  ``--slowdown K`` makes the fused kernel do its work K times, to
prove the gate catches a slowed kernel (see reports/bench_regression.md).
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
from bench.provenance import stamp

BASELINE = Path(__file__).with_name("baseline.json")
THRESHOLD = 2.0
REPEATS = 5
ATTEMPTS = 3      # a case fails only if it is over the threshold in every attempt


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def calibration_work():
    """A fixed mix of element-wise work (sin, sqrt, div, gather) on 2M floats."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1 << 21, generator=g)
    idx = (x * 1000).to(torch.int64)
    table = torch.rand(1000, generator=g)

    def work():
        y = torch.sin(x * 3.1) / (torch.sqrt(x) + 1.0)
        y = y * torch.sin(7.0 * x) + table[idx]
        return float(y.sum())
    return work


def _slow(k: int):
    from nanobrag_torch.backends import torch_kernel
    original = torch_kernel.fused_chunk

    def slowed(si, fi, kin):
        for _ in range(k - 1):
            original(si, fi, kin)
        return original(si, fi, kin)
    torch_kernel.fused_chunk = slowed


def measure(names=None) -> dict:
    from nanobrag_torch import simulate
    cal_fn = calibration_work()
    cal_times, out = [], {"cases": {}}
    for name in names or cases.CI_CASES:
        args = cases.args(name)
        simulate(args)                                   # warm-up (file reads, allocations)
        times = []
        for _ in range(REPEATS):
            cal_times.append(_timed(cal_fn))
            times.append(_timed(lambda: simulate(args)))
        out["cases"][name] = {"seconds": min(times)}
    cal = min(cal_times)
    out["calibration_s"] = cal
    for entry in out["cases"].values():
        entry["normalised"] = entry["seconds"] / cal
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="CI speed-regression gate")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--update", action="store_true")
    ap.add_argument("--slowdown", type=int, default=1, help="run the fused kernel K times (proof)")
    a = ap.parse_args(argv)
    os.environ["NANOBRAG_COMPILE"] = "0"
    torch.set_num_threads(1)        # one thread: a busy second core must not make torch's
                                    # parallel regions straggle (seen: 8 ms -> 780 ms)
    if a.slowdown > 1:
        _slow(a.slowdown)
    got = measure()
    if a.update:
        BASELINE.write_text(json.dumps({"stamp": stamp(), **got}, indent=1) + "\n")
        print(f"wrote {BASELINE}")
        return 0
    base = json.loads(BASELINE.read_text())
    suspects = list(got["cases"])
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            print(f"re-measuring {', '.join(suspects)} (attempt {attempt} of {ATTEMPTS})")
            got = measure(suspects)
        print(f"calibration {got['calibration_s'] * 1e3:.1f} ms (baseline {base['calibration_s'] * 1e3:.1f} ms)")
        suspects = [name for name in suspects if _report(name, got["cases"][name], base) > THRESHOLD]
        if not suspects:
            return 0
    print(f"speed regression > {THRESHOLD}x in every one of {ATTEMPTS} measurements: "
          f"{', '.join(suspects)}", file=sys.stderr)
    return 1


def _report(name: str, cur: dict, base: dict) -> float:
    ref = base["cases"][name]["normalised"]
    ratio = cur["normalised"] / ref
    print(f"{name:8s} {cur['seconds'] * 1e3:8.1f} ms  normalised {cur['normalised']:7.2f}  "
          f"baseline {ref:7.2f}  ratio {ratio:5.2f}  {'REGRESSION' if ratio > THRESHOLD else 'ok'}")
    return ratio


if __name__ == "__main__":
    raise SystemExit(main())
