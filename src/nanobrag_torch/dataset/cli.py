"""``nanoBragg-dataset``: render many shots of one nanoBragg command line into an HDF5 dataset.

    nanoBragg-dataset --shots 1000 --workers 4 --out run1 --seed 7 --noise \\
        --fluence-jitter 0.1 --wavelength-jitter 0.001 -- -hkl P1.hkl -cell 100 100 100 90 90 90 ...

Everything after ``--`` is the nanoBragg flag list (input paths must be readable by every
worker).  Each shot gets a uniformly random orientation (``--no-orientation``: the command
line's own), optional fluence and wavelength jitter and, with ``--noise``, a noise seed, all
drawn from (``--seed``, shot index); ``--shot-file`` (JSON lines, one shot dict per line, as
for `simulate_many`) gives the shots explicitly instead.  Runs on a local Dask cluster of
``--workers`` processes, or on the cluster at ``--scheduler ADDRESS``.  Rerunning the same
command in the same ``--out`` directory finishes an interrupted job.

Exit status: 0 all shots rendered; 1 some shots failed (the others are written, the
failures listed) or some shards are missing (rerun to finish); 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import NanoBraggError
from .job import make_spec, run_job


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="nanoBragg-dataset", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, help="number of shots (default: the --shot-file's lines)")
    ap.add_argument("--out", required=True, help="output directory (shards, manifest.json, dataset.h5)")
    ap.add_argument("--workers", type=int, default=2, help="local cluster processes (default 2)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler (instead of a local cluster)")
    ap.add_argument("--seed", type=int, default=0, help="job seed: shot k is drawn from (seed, k)")
    ap.add_argument("--shard-size", type=int, default=16, help="shots per HDF5 shard (default 16)")
    ap.add_argument("--no-orientation", action="store_true", help="keep the command line's orientation")
    ap.add_argument("--fluence-jitter", type=float, default=0.0,
                    help="lognormal relative sigma of the per-shot fluence")
    ap.add_argument("--wavelength-jitter", type=float, default=0.0,
                    help="relative sigma of the per-shot wavelength")
    ap.add_argument("--noise", action="store_true", help="also write Poisson noise images (per-shot seeds)")
    ap.add_argument("--shot-file", help="JSON lines, one shot dict per line (replaces generated shots)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (on the workers)")
    ap.add_argument("--compile", choices=("auto", "0", "1"), default="auto",
                    help="NANOBRAG_COMPILE for every shot (auto: decided once per job)")
    ap.add_argument("flags", nargs=argparse.REMAINDER, help="-- then the nanoBragg flags")
    return ap


def _shot_list(path: str | None) -> list | None:
    if path is None:
        return None
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError as exc:
        raise NanoBraggError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise NanoBraggError(f"{path}: line {exc.lineno}: not JSON ({exc.msg})") from None


def main(argv: list | None = None) -> int:
    """Run the command line `argv` (default sys.argv[1:]); returns the exit status."""
    ns = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    flags = ns.flags[1:] if ns.flags[:1] == ["--"] else ns.flags

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
    try:
        shot_list = _shot_list(ns.shot_file)
        if shot_list is None and ns.shots is None:
            raise NanoBraggError("give --shots N or --shot-file FILE")
        spec = make_spec(flags, shots=ns.shots or 0, seed=ns.seed, shard_size=ns.shard_size,
                         dtype=ns.dtype, device=ns.device, compile=ns.compile,
                         orientation=not ns.no_orientation, fluence_jitter=ns.fluence_jitter,
                         wavelength_jitter=ns.wavelength_jitter, noise=ns.noise, shot_list=shot_list)
        summary = run_job(spec, ns.out, workers=ns.workers, scheduler=ns.scheduler, log=log)
    except NanoBraggError as exc:
        log(f"nanoBragg-dataset: error: {exc}")
        return 2
    return 0 if summary["complete"] and not summary["failures"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
