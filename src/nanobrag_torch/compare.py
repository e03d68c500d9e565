"""``nb-compare``: run nanoBragg.c and nanobrag-torch on the same flags and compare.

    nb-compare [--c-bin PATH] [--mode process|render] [--threads 2] [--dtype float32]
               [--png out.png] -- FLAGS...

The C binary comes from ``--c-bin`` or ``$NB_C_BIN``.  Both programs run on this machine in
one invocation with the same thread count (``OMP_NUM_THREADS`` for the C, torch's threads
for ours), so the wall-time ratio is meaningful even when absolute times drift.

``--mode process`` (default) times each program as a whole process: ``nanoBragg FLAGS`` and
``python -m nanobrag_torch FLAGS`` (start-up, set-up, render and file writes included).
``--mode render`` compares the render alone, measured the same way for both: the wall time
of a run minus that of the same run restricted to one pixel (``-roi 0 0 0 0``), so start-up,
input parsing, set-up and output writing cancel out.  The C runs as a process each time;
ours runs in this process after two warm-up renders (the compiled kernel, if the policy
builds one, is ready: a background build is waited for).  Reports correlation, sum ratio,
peak positions, the maximum relative pixel error, both times and their ratio; ``--png``
writes the C image, ours and their difference side by side.  Exit status 1 when the images
disagree (correlation below 0.9999 or |sum ratio - 1| above 1e-4).
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

OUTPUT_FLAGS = ["-nonoise", "-nopgm", "-noprogress"]
ONE_PIXEL = ["-roi", "0", "0", "0", "0"]


def run_c(c_bin: str, flags: list, workdir: Path, threads: int = 2) -> tuple:
    """(float image, wall seconds) of one whole nanoBragg.c process."""
    out = workdir / "c_float.bin"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    # -dump into the scratch directory: the C would otherwise read a stale ./Fdump.bin
    # left by an earlier -hkl run whenever -hkl is absent (and write one when present)
    proc = subprocess.run([c_bin, "-floatfile", str(out), "-dump", str(workdir / "Fdump.bin"),
                           *OUTPUT_FLAGS, *flags], capture_output=True, text=True, cwd=workdir, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"nb-compare: the C program failed (exit {proc.returncode}): "
                         f"{proc.stdout.strip().splitlines()[-1:] if proc.stdout else ''}")
    return np.fromfile(out, dtype="<f4"), wall


def run_ours_process(flags: list, dtype: str, workdir: Path, threads: int = 2, env=None) -> tuple:
    """(float image, wall seconds) of one whole ``python -m nanobrag_torch`` process."""
    out = workdir / "ours_float.bin"
    env = dict(env or os.environ, OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nanobrag_torch", "-floatfile", str(out), *OUTPUT_FLAGS,
                           "-intfile", str(workdir / "ours.img"), "-dtype", dtype, *flags],
                          capture_output=True, text=True, cwd=workdir, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"nb-compare: nanobrag-torch failed: {proc.stderr.strip()}")
    return np.fromfile(out, dtype="<f4"), wall


def _wait_for_builds() -> None:
    from .backends import aot_cache
    for lock in aot_cache.cache_dir().glob("*.lock"):
        aot_cache.wait(lock.with_suffix(".pt2"))


def _timed_simulate(flags: list, dtype: str) -> tuple:
    from .simulate import simulate
    t0 = time.perf_counter()
    img = simulate(flags, dtype=dtype)
    return img, time.perf_counter() - t0


def render_times(c_bin: str, flags: list, dtype: str, workdir: Path, threads: int = 2) -> dict:
    """The render alone, both programs measured the same way (see the module doc)."""
    import torch
    torch.set_num_threads(threads)
    ref, c_full = run_c(c_bin, flags, workdir, threads)
    _, c_pixel = run_c(c_bin, flags + ONE_PIXEL, workdir, threads)
    warm = [_timed_simulate(flags, dtype)[1] for _ in range(2)]
    _wait_for_builds()
    img, ours_full = _timed_simulate(flags, dtype)
    ours_pixel = _timed_simulate(flags + ONE_PIXEL, dtype)[1]
    return {"ref": ref, "ours": img.detach().cpu().float().numpy().ravel(), "warm": warm,
            "c": c_full - c_pixel, "ours_s": ours_full - ours_pixel,
            "detail": f"C {c_full:.3f} - {c_pixel:.3f} s, ours {ours_full:.3f} - {ours_pixel:.3f} s"}


def metrics(ours: np.ndarray, ref: np.ndarray) -> dict:
    a, b = ours.astype(np.float64), ref.astype(np.float64)
    corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return {"correlation": corr, "sum_ratio": float(a.sum() / b.sum()) if b.sum() else float("nan"),
            "peak_ours": tuple(int(x) for x in np.unravel_index(a.argmax(), a.shape)),
            "peak_c": tuple(int(x) for x in np.unravel_index(b.argmax(), b.shape)),
            "max_rel_error": float(np.abs(a - b).max() / (np.abs(b).max() or 1.0))}


def write_comparison_png(path: str, ours: np.ndarray, ref: np.ndarray) -> None:
    """C image | ours | |ours - C| (each log-scaled false colour) side by side."""
    from .io.atomic import atomic_write
    from .io.png import png_bytes, preview_rgb
    panels = [preview_rgb(ref), preview_rgb(ours), preview_rgb(np.abs(ours.astype(np.float64) - ref))]
    height = max(p.shape[0] for p in panels)
    gap = np.full((height, 8, 3), 255, np.uint8)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in panels]
    atomic_write(path, png_bytes(np.concatenate([padded[0], gap, padded[1], gap, padded[2]], axis=1)))


def detector_shape(flags: list) -> tuple:
    from .config import resolve
    from .simulate import parse
    det = resolve(parse(flags)).detector
    return det.spixels, det.fpixels


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="nb-compare", description=__doc__.splitlines()[0])
    ap.add_argument("--c-bin", default=os.environ.get("NB_C_BIN"))
    ap.add_argument("--mode", choices=("process", "render"), default="process")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--png")
    ap.add_argument("flags", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    flags = a.flags[1:] if a.flags[:1] == ["--"] else a.flags
    if not a.c_bin or not shutil.which(a.c_bin):
        print("nb-compare: give the nanoBragg.c binary with --c-bin or NB_C_BIN", file=sys.stderr)
        return 2
    c_bin = str(Path(shutil.which(a.c_bin)).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if a.mode == "process":
            ref, c_wall = run_c(c_bin, flags, work, a.threads)
            ours, our_wall = run_ours_process(flags, a.dtype, work, a.threads)
            detail = "whole processes"
        else:
            r = render_times(c_bin, flags, a.dtype, work, a.threads)
            ref, ours, c_wall, our_wall = r["ref"], r["ours"], r["c"], r["ours_s"]
            detail = "render alone: full run minus one-pixel run; " + r["detail"]
    shape = detector_shape(flags)
    ours, ref = ours.reshape(shape), ref.reshape(shape)
    m = metrics(ours, ref)
    ok = m["correlation"] >= 0.9999 and abs(m["sum_ratio"] - 1) <= 1e-4
    print(f"correlation     {m['correlation']:.8f}\nsum ratio       {m['sum_ratio']:.8f}\n"
          f"peak C / ours   {m['peak_c']} / {m['peak_ours']}\nmax rel error   {m['max_rel_error']:.3e}\n"
          f"C time          {c_wall:.3f} s\nours time       {our_wall:.3f} s ({a.mode}, {a.dtype}, "
          f"{a.threads} threads each; {detail})\n"
          f"ratio ours/C    {our_wall / c_wall:.3f}\nimages          {'agree' if ok else 'DISAGREE'}")
    if a.png:
        write_comparison_png(a.png, ours, ref)
        print(f"wrote {a.png}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
