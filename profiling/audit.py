"""Vectorization-gap audit of the torch backend (eager kernels, accumulation only).

For small named workloads it measures whether work scales the way a fused implementation
should, and writes `audit.md` with one row per gap (a gate that fails) plus every
measurement; gates and thresholds live in specs/audit_gates.toml.

- time per pixel-step across detector sizes (flat is good);
- Python-level calls per pixel chunk across 1 and 16 sources, phi steps and mosaic
  domains (a Python loop over any of them multiplies them);
- host synchronisations inside the accumulation (``.item()``, ``nonzero``) per chunk;
- intermediate bytes allocated per pixel-step;
- achieved pixel-steps/s against the machine's measured rate for the bare step arithmetic.

``--quick`` (CI) audits small detectors and reports the two timing measurements without
gating them (a shared machine makes timings noise); the structural gates (Python calls,
synchronisations, bytes) are deterministic and always gate.
"""
from __future__ import annotations

import math
import os
import sys
import time
import tomllib
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from bench.provenance import stamp_line
from nanobrag_torch.backends import torch_eager
from nanobrag_torch.config import resolve
from nanobrag_torch.physics.lattice import f_latt_sqr
from nanobrag_torch.precompute import precompute
from nanobrag_torch.simulate import parse

ROOT = Path(__file__).resolve().parents[1]
BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -oversample 1 -phi 1"
AXES = {"sources": "-hdivrange 0.5 -hdivsteps {n} -square_div", "phi": "-osc 0.5 -phisteps {n}",
        "mosaic": "-mosaic 0.5 -mosaic_domains {n} -mosaic_seed 1"}
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero")


def gates() -> dict:
    return tomllib.loads((ROOT / "specs" / "audit_gates.toml").read_text())


def _pre(args: str):
    return precompute(resolve(parse(args.split())))


class _Chunks:
    """Counts kernel invocations (pixel chunks) and Python-level calls during a render."""

    def __init__(self):
        self.calls = 0
        self.chunks = 0

    def __call__(self, frame, event, arg):
        if event in ("call", "c_call"):
            self.calls += 1
            if event == "call" and frame.f_code.co_name == "_rows_per_chunk":
                self.chunks += 1        # called once per chunk by the accumulation loop


def python_calls_per_chunk(pre) -> float:
    counter = _Chunks()
    sys.setprofile(counter)
    try:
        torch_eager.accumulate(pre.inputs, pre.flags, torch.float32, "cpu")
    finally:
        sys.setprofile(None)
    return counter.calls / max(counter.chunks, 1), counter.chunks


def profiled(pre, chunk_steps: int | None = None) -> dict:
    """Syncs, bytes allocated and chunks of one accumulation (optionally with smaller chunks)."""
    saved = torch_eager.CHUNK_STEPS
    if chunk_steps is not None:
        torch_eager.CHUNK_STEPS = chunk_steps
    counter = _Chunks()
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            sys.setprofile(counter)
            torch_eager.accumulate(pre.inputs, pre.flags, torch.float32, "cpu")
            sys.setprofile(None)
    finally:
        sys.setprofile(None)
        torch_eager.CHUNK_STEPS = saved
    events = prof.events()
    syncs = sum(1 for e in events if e.name in SYNC_OPS)
    allocated = sum(max(e.cpu_memory_usage, 0) for e in events if e.name.startswith("aten::empty"))
    return {"syncs": syncs, "bytes": allocated, "chunks": counter.chunks}


def syncs_per_chunk(pre) -> float:
    """Synchronisations that scale with the number of chunks (per-render ones cancel out)."""
    one = profiled(pre)
    many = profiled(pre, chunk_steps=max(1, pixel_steps(pre) // 8))
    return (many["syncs"] - one["syncs"]) / max(many["chunks"] - one["chunks"], 1)


def timed(pre, repeats: int = 3) -> float:
    torch_eager.accumulate(pre.inputs, pre.flags, torch.float32, "cpu")
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch_eager.accumulate(pre.inputs, pre.flags, torch.float32, "cpu")
        best = min(best, time.perf_counter() - t0)
    return best


def peak_step_rate(n: int = 1 << 21) -> float:
    """Steps/s of the bare lattice-factor arithmetic on contiguous float32 arrays."""
    g = torch.Generator().manual_seed(0)
    h = [torch.rand(n, generator=g) * 20 - 10 for _ in range(3)]
    N = torch.tensor([5.0, 5.0, 5.0])
    recip = torch.eye(3)
    f_latt_sqr(h, N, "square", 1.0, recip)
    t0 = time.perf_counter()
    f_latt_sqr(h, N, "square", 1.0, recip)
    return n / (time.perf_counter() - t0)


def pixel_steps(pre) -> int:
    return pre.steps * pre.shape[0] * pre.shape[1]


def audit(out: str, quick: bool = False) -> int:
    os.environ["NANOBRAG_COMPILE"] = "0"
    g = gates()
    rows, gaps = [], []

    def record(metric, case, value, limit, ok, unit="", timing=False):
        if timing and quick:            # timings are noise on a shared CI machine: report only
            rows.append(f"| {metric} | {case} | {value:.4g}{unit} | {limit} | info (--quick) |")
            return
        rows.append(f"| {metric} | {case} | {value:.4g}{unit} | {limit} | {'ok' if ok else 'GAP'} |")
        if not ok:
            gaps.append(f"| {metric} | {case} | {value:.4g}{unit} | {limit} |")

    sizes = [64, 128] if quick else [64, 128, 256, 512]
    per_step = {}
    for n in sizes:
        pre = _pre(f"{BASE} -detpixels {n}")
        per_step[n] = timed(pre) / pixel_steps(pre)
        record("time per pixel-step", f"{n}^2", per_step[n] * 1e9, "-", True, " ns")
    ratio = per_step[sizes[0]] / per_step[sizes[-1]]
    record("per-step time small/large detector", f"{sizes[0]}^2 vs {sizes[-1]}^2", ratio,
           f"<= {g['scaling']['max_small_over_large']}", ratio <= g["scaling"]["max_small_over_large"],
           timing=True)
    frac = 1.0 / per_step[sizes[-1]] / peak_step_rate()
    record("achieved / bare-arithmetic step rate", f"{sizes[-1]}^2", frac,
           f">= {g['efficiency']['min_fraction_of_peak']}", frac >= g["efficiency"]["min_fraction_of_peak"],
           timing=True)

    det = 16 if quick else 32
    for axis, flags in AXES.items():
        measured = {}
        for n in (1, 16):
            pre = _pre(f"{BASE} -detpixels {det} {flags.format(n=n)}")
            calls, _ = python_calls_per_chunk(pre)
            measured[n] = (calls, syncs_per_chunk(pre), profiled(pre)["bytes"] / pixel_steps(pre))
        growth = measured[16][0] / measured[1][0]
        record("Python calls per chunk, 16 vs 1", axis, growth, f"<= {g['python_calls']['max_growth']}",
               growth <= g["python_calls"]["max_growth"])
        syncs = measured[16][1]
        record("host syncs per chunk in accumulation", f"{axis} x16", syncs,
               f"<= {g['syncs']['max_per_chunk']}", syncs <= g["syncs"]["max_per_chunk"])
        extra = measured[16][1] - measured[1][1]
        record("host syncs per chunk, 16 minus 1", axis, extra,
               f"<= {g['syncs']['max_growth_absolute']}", extra <= g["syncs"]["max_growth_absolute"])
        record("bytes allocated per pixel-step", f"{axis} x16", measured[16][2],
               f"<= {g['bytes']['max_per_pixel_step']}", measured[16][2] <= g["bytes"]["max_per_pixel_step"],
               " B")

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = ["# Vectorization-gap audit", "", f"Stamp: {stamp_line()}", "",
            "Eager torch backend, accumulation only; gates from specs/audit_gates.toml.", "",
            f"## Gaps found: {len(gaps)}", "", "| metric | case | value | gate |", "|---|---|---|---|",
            *gaps, "", "## All measurements", "", "| metric | case | value | gate | verdict |",
            "|---|---|---|---|---|", *rows]
    (out_dir / "audit.md").write_text("\n".join(text) + "\n")
    print(f"wrote {out_dir / 'audit.md'}: {len(gaps)} gap(s)")
    return 1 if gaps else 0
