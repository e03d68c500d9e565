"""``python -m profiling run --case NAME --out DIR`` | ``python -m profiling audit --out DIR``."""
from __future__ import annotations

import argparse
import sys

from bench.cases import CASES


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m profiling")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="profile one named case (torch.profiler -> TensorBoard + summary.md)")
    r.add_argument("--case", required=True, choices=sorted(CASES))
    r.add_argument("--out", required=True)
    r.add_argument("--backend", default="torch", choices=("auto", "torch", "triton"))
    r.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    r.add_argument("--c-image", help="nanoBragg.c float image (raw float32) for the parity line")
    a = sub.add_parser("audit", help="vectorization-gap audit (audit.md; non-zero exit on a gate)")
    a.add_argument("--out", required=True)
    a.add_argument("--quick", action="store_true", help="smallest sizes only (CI)")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        from profiling.run import profile_case
        return profile_case(args.case, args.out, args.backend, args.dtype, args.c_image)
    from profiling.audit import audit
    return audit(args.out, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
