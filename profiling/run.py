"""Profile one named case: torch.profiler trace for TensorBoard (torch-tb-profiler) plus a
Markdown summary of where the time goes.

The render is warmed up twice (the second warm-up may compile the fused kernel), then
profiled once with `tensorboard_trace_handler`, so ``tensorboard --logdir DIR`` shows it.
`summary.md` gives wall time, pixel-steps/s, the top operators by self time, the share of
time in the accumulation versus set-up, scaling and I/O (from the ``nb.*`` record_function
ranges of `nanobrag_torch.simulate.run`), peak memory, host-device synchronisations,
kernel/operator launches per image and a parity line against the golden data or a C image.
"""
from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function, tensorboard_trace_handler

from bench import cases
from bench.provenance import stamp_line
from nanobrag_torch.io.raw import write_floatfile
from nanobrag_torch.simulate import run

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_FOR_CASE = {"4096": ("large", "L1_4096_cubic"), "W2": ("large", "L1_4096_cubic")}
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "cudaDeviceSynchronize", "cudaStreamSynchronize")
PHASES = ("nb.setup", "nb.accumulate", "nb.scaling", "nb.io")


def _parity(name: str, img: np.ndarray, c_image: str | None) -> str:
    if c_image:
        ref = np.fromfile(c_image, dtype="<f4").reshape(img.shape).astype(np.float64)
        a, b = img.astype(np.float64).ravel(), ref.ravel()
        return (f"vs {c_image}: correlation {np.corrcoef(a, b)[0, 1]:.8f}, "
                f"sum ratio {a.sum() / b.sum():.8f}")
    if name not in GOLDEN_FOR_CASE:
        return "no golden reference for this case (give --c-image)"
    _, gname = GOLDEN_FOR_CASE[name]
    golden = ROOT / "tests" / "golden" / "large"
    meta = next(c for c in json.loads((golden / "manifest.json").read_text())["cases"] if c["name"] == gname)
    ref = np.load(golden / f"{gname}.npz")
    a = img.astype(np.float64)
    corr = min(np.corrcoef(a.sum(1), ref["row_sums"])[0, 1], np.corrcoef(a.sum(0), ref["col_sums"])[0, 1])
    return (f"vs golden {gname} (row/column sums): correlation {corr:.8f}, "
            f"sum ratio {a.sum() / meta['c_summary']['sum']:.8f}")


def _phase_times(events) -> dict:
    out = {p: 0.0 for p in PHASES}
    for e in events:
        if e.key in out:
            out[e.key] += e.cpu_time_total / 1e6
    return out


def profile_case(name: str, out: str, backend: str, dtype: str, c_image: str | None) -> int:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    args = cases.args(name) + ["-backend", backend]
    warm = []
    for _ in range(2):
        t0 = time.perf_counter()
        result = run(args, dtype=dtype)
        warm.append(time.perf_counter() - t0)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities, on_trace_ready=tensorboard_trace_handler(str(out_dir)),
                 record_shapes=True, profile_memory=True) as prof:
        t0 = time.perf_counter()
        result = run(args, dtype=dtype)
        image = result.image.detach().cpu().float().numpy()
        with record_function("nb.io"), tempfile.TemporaryDirectory() as tmp:
            write_floatfile(os.path.join(tmp, "image.bin"), image)
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    phases = _phase_times(events)
    pixel_steps = result.pre.steps * image.size
    syncs = sum(e.count for e in events if e.key in SYNC_OPS)
    ops = sum(e.count for e in events if e.key.startswith("aten::"))
    compiled = sum(e.count for e in events if e.key == "nb.compiled_kernel")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = sorted((e for e in events if not e.key.startswith(("nb.setup", "nb.accumulate", "nb.scaling",
                                                               "nb.io", "ProfilerStep"))),
                  key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
    total = sum(phases.values()) or wall
    lines = [f"# Profile: case `{name}` ({backend}, {dtype})", "", f"Stamp: {stamp_line()}", "",
             f"Command line: `{' '.join(args)}`", "",
             f"- wall time (profiled render + float file write): {wall:.3f} s; warm-ups: "
             + ", ".join(f"{w:.2f} s" for w in warm),
             f"- pixel-steps: {pixel_steps:.4g}; throughput {pixel_steps / phases['nb.accumulate']:.4g} "
             "pixel-steps/s in the accumulation",
             "- time share: " + ", ".join(f"{p[3:]} {100 * t / total:.1f}% ({t:.3f} s)" for p, t in phases.items()),
             f"- peak resident memory (process): {peak_mb:.0f} MB"
             + (f"; CUDA peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MB" if torch.cuda.is_available() else ""),
             f"- host-device synchronisations (item/nonzero/cuda*Synchronize): {syncs}",
             f"- launches per image: {compiled} compiled fused-kernel calls, {ops} eager aten ops "
             "(set-up, geometry models, scaling)",
             f"- parity: {_parity(name, image, c_image)}", "",
             "## Top operators by self CPU time", "", "| operator | calls | self CPU ms | total CPU ms |",
             "|---|---|---|---|"]
    lines += [f"| {e.key[:60]} | {e.count} | {e.self_cpu_time_total / 1e3:.1f} | {e.cpu_time_total / 1e3:.1f} |"
              for e in rows]
    lines += ["", f"Trace for TensorBoard: `tensorboard --logdir {out_dir}` (torch-tb-profiler plugin)."]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out_dir / 'summary.md'} and the trace in {out_dir}")
    return 0
