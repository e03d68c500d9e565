"""nearBragg golden parity -> reports/nearbragg_parity.md: ``python -m bench.nearbragg_parity``.

Every public case (two-run cases: the pre_runs first, in the same directory) through the
nearBragg command line in float64 and in the default float32; per case the float image's
correlation and sum ratio against the C, the same for the sin/cos images of coherent runs
(signed: sum error relative to sum |C|, as tests/test_nearbragg_golden.py), and whether the
int file follows the C's rule from our float image.  Thresholds: specs/tolerances.toml.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.provenance import ROOT, stamp
from nanobrag_torch.nearbragg.cli import main as nearbragg
from tests.golden_util import TOL
from tests.test_nearbragg_golden import CASES, GOLDEN, _named, check_case, metric


def run(case: dict, dtype: str, tmp: Path) -> dict:
    work = tmp / f"{case['name']}_{dtype}"
    shutil.copytree(GOLDEN / "inputs", work / "inputs")
    old = os.getcwd()
    os.chdir(work)
    try:
        for args in [p["args"] for p in case.get("pre_runs", [])] + [case["args"]]:
            with contextlib.redirect_stdout(io.StringIO()):
                assert nearbragg(args + ["-dtype", dtype]) == 0
    finally:
        os.chdir(old)
    ref = np.load(GOLDEN / case["file"])
    shape = tuple(case["shape_slow_fast"])
    out = {}
    for key, flag, default in (("floatimage", "-floatfile", "floatimage.bin"),
                               ("sinimage", "-sinfile", "sinimage.bin"), ("cosimage", "-cosfile", "cosimage.bin")):
        if key in ref.files:
            ours = np.fromfile(work / _named(case["args"], flag, default), "<f4").reshape(shape)
            out[key] = metric(ours, ref[key])
    tol = TOL["nearbragg"]
    corr, ratio = (tol["corr_float64"], tol["sum_float64"]) if dtype == "float64" else (tol["corr_float32"], tol["sum_float32"])
    try:
        check_case(case, work, corr, ratio)
        out["pass"] = True
    except AssertionError:
        out["pass"] = False
    return out


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.nearbragg_parity", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "reports" / "nearbragg_parity.md"))
    args = ap.parse_args(argv)
    rows, fails = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(CASES):
            res = {d: run(CASES[name], d, Path(tmp)) for d in ("float64", "float32")}
            cells = []
            for d in ("float64", "float32"):
                r = res[d]
                fails += not r["pass"]
                metrics = [(k, v) for k, v in r.items() if k != "pass"]
                cells.append("; ".join(f"{k[:-5]} {c:.9f} / {s - 1:+.1e}" for k, (c, s) in metrics)
                             + ("" if r["pass"] else " **FAIL**"))
            rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
            print(rows[-1], flush=True)
    tol = TOL["nearbragg"]
    text = "\n".join([
        "# nearBragg golden parity", "", "Stamp: " + ", ".join(f"{k} {v}" for k, v in stamp().items()), "",
        "Written by `python -m bench.nearbragg_parity`. Each cell: image correlation / (sum ratio - 1) "
        "against nearBragg.c (float; sin and cos for -coherent runs, their sum error relative to sum |C|); "
        f"thresholds float64 corr >= {tol['corr_float64']}, |sum-1| <= {tol['sum_float64']}; float32 "
        f"corr >= {tol['corr_float32']}, |sum-1| <= {tol['sum_float32']}; the int file follows the C's rule "
        "from our float image and its header equals the C's.", "",
        f"**{2 * len(rows) - fails} of {2 * len(rows)} runs pass.**", "",
        "| case | float64 | float32 (default) |", "|---|---|---|", *rows, ""])
    Path(args.out).write_text(text)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
