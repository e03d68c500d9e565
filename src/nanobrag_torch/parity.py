"""Parity report against a golden directory of nanoBragg.c outputs.

    python -m nanobrag_torch.parity [--golden tests/golden] [--out reports/parity.md]

Renders every case of ``manifest.json`` (and the row/column-sum cases of ``large/``) in
float64 and float32 and writes a Markdown table: correlation, sum ratio, max relative
pixel error and render time, stamped with the git revision and versions.  The metric is
the golden README's (thresholds in specs/tolerances.toml).  Exit status 1 if a case fails.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

from .simulate import run

ROOT = Path(__file__).resolve().parents[2]


def _metrics(ours, ref) -> tuple:
    a, b = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float(np.allclose(a, b))
    ratio = float(a.sum() / b.sum()) if b.sum() else float(a.sum() == 0)
    return corr, ratio, float(np.abs(a - b).max() / (np.abs(b).max() or 1.0))


def _large(case, img) -> tuple:
    """Worst correlation over row sums, column sums and patches; sum ratio."""
    ref = np.load(case["_npz"])
    pieces = [(img.sum(1), ref["row_sums"]), (img.sum(0), ref["col_sums"])]
    for key, (s, f) in case["patches_slow_fast_origin"].items():
        n = case["patch_size"]
        pieces.append((img[s:s + n, f:f + n], ref["patch_" + key]))
    corrs, maxrel = [], 0.0
    for ours, theirs in pieces:
        c, _, m = _metrics(ours, theirs)
        corrs.append(c)
        maxrel = max(maxrel, m)
    return min(corrs), float(img.sum() / case["c_summary"]["sum"]), maxrel


def _stamp() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return (f"git {rev}, torch {torch.__version__}, numpy {np.__version__}, python "
            f"{platform.python_version()}, {platform.processor() or platform.machine()}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def report(golden: Path, dtypes=("float64", "float32"), include_large=True) -> tuple:
    tol = tomllib.loads((ROOT / "specs" / "tolerances.toml").read_text())["parity"]
    cases = json.loads((golden / "manifest.json").read_text())["cases"]
    if include_large and (golden / "large" / "manifest.json").exists():
        for c in json.loads((golden / "large" / "manifest.json").read_text())["cases"]:
            cases.append(dict(c, _npz=golden / "large" / f"{c['name']}.npz"))
    rows, failures = [], 0
    old = os.getcwd()
    os.chdir(golden)
    try:
        for case in cases:
            for dtype in dtypes:
                t0 = time.perf_counter()
                img = run(case["physics_args"], dtype=dtype).image.double().numpy()
                dt = time.perf_counter() - t0
                if "_npz" in case:
                    corr, ratio, maxrel = _large(case, img)
                else:
                    corr, ratio, maxrel = _metrics(img, np.load(case["file"])["floatimage"])
                ok = corr >= tol[dtype]["min_correlation"] and abs(ratio - 1) <= tol[dtype]["max_abs_sum_ratio_error"]
                failures += not ok
                rows.append(f"| {case['name']} | {dtype} | {corr:.9f} | {ratio:.9f} | {maxrel:.2e} | "
                            f"{dt:.2f} | {'pass' if ok else 'FAIL'} |")
    finally:
        os.chdir(old)
    head = ["# Parity against nanoBragg.c golden outputs", "", f"Stamp: {_stamp()}", "",
            "Metric (golden README): Pearson correlation and sum ratio of the float image "
            "(large cases: worst correlation over row sums, column sums and five 64x64 patches); "
            "thresholds in specs/tolerances.toml. max rel = max |ours - C| / max C. Time is the "
            "whole `simulate` call (set-up included), seconds, on this machine.", "",
            f"Cases: {len(cases)} x {len(dtypes)} dtypes; failures: {failures}", "",
            "| case | dtype | correlation | sum ratio | max rel | time s | result |",
            "|---|---|---|---|---|---|---|"]
    return "\n".join(head + rows) + "\n", failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", type=Path, default=ROOT / "tests" / "golden")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "parity.md")
    args = ap.parse_args(argv)
    text, failures = report(args.golden.resolve())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
