"""Many-shot acceptance numbers -> reports/many_shot.md: ``python -m bench.many_shot``.

1. Identity: one job on a 1-worker and on a 2-worker local Dask cluster; the two output
   directories compared byte for byte, and shot k (several k) against `simulate`.
2. Speed: 64 small shots through `simulate_many` (one process) and through
   ``nanoBragg-dataset --workers 1`` end to end, against 64 ``python -m nanobrag_torch`` runs.
3. Kill and rerun: the pytest that kills a job mid-run and reruns it (run here, timed).
4. Readers: nexusformat and fabio open the dataset and find images and per-shot metadata.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("NANOBRAG_COMPILE", "0")      # a single CLI run is eager: compare like with like

import fabio  # noqa: E402
import h5py  # noqa: E402
import hdf5plugin  # noqa: E402,F401  (registers the bitshuffle filter)
import nexusformat.nexus as nx  # noqa: E402

from bench.provenance import ROOT, stamp  # noqa: E402
from nanobrag_torch import simulate  # noqa: E402
from nanobrag_torch.dataset.job import make_spec, run_job, shot_for  # noqa: E402
from nanobrag_torch.many import random_shot, simulate_many, split_shot  # noqa: E402

HKL = str(ROOT / "tests" / "golden" / "inputs" / "P1_pub.hkl")
ARGS = ["-hkl", HKL] + ("-cell 50 60 70 90 90 90 -N 5 -lambda 1.5 -distance 80 -detpixels 64 -pixel 0.4 "
                        "-oversample 1").split()
SHOTS = 64


def identity(tmp: Path) -> list:
    spec = make_spec(ARGS, shots=9, seed=2026, shard_size=4, noise=True, fluence_jitter=0.1,
                     wavelength_jitter=1e-3, compile="0")
    dirs = {w: tmp / f"w{w}" for w in (1, 2)}
    seconds = {}
    for w, d in dirs.items():
        t = time.perf_counter()
        run_job(dict(spec), d, workers=w, log=lambda line: None)
        seconds[w] = time.perf_counter() - t
    same_dirs = all((dirs[1] / p.name).read_bytes() == p.read_bytes() for p in dirs[2].iterdir())
    rows = []
    for k in (0, 3, 4, 8):
        single = simulate(ARGS, params=split_shot(shot_for(spec, k))[0]).numpy().tobytes()
        for w, d in dirs.items():
            with h5py.File(d / "dataset.h5") as f:
                got = f[f"entry/data/data_{k // 4 + 1:06d}"][k % 4].tobytes()
            rows.append(f"| {k} | {w} | {'yes' if got == single else 'NO'} |")
    return ["## 1. Shot k of distributed runs vs `simulate`", "",
            f"Job: 9 shots, shard size 4, random orientation, fluence/wavelength jitter, noise; "
            f"1 worker {seconds[1]:.1f} s, 2 workers {seconds[2]:.1f} s (including cluster start-up). "
            f"Output directories byte-identical between 1 and 2 workers: **{'yes' if same_dirs else 'NO'}**.",
            "", "| shot k | workers | image bytes == simulate(args, params=shot_k) |", "|---|---|---|",
            *rows, ""]


def speed(tmp: Path) -> list:
    shots = [random_shot(1, k) for k in range(SHOTS)]
    passes = []
    for _ in range(3):               # the first pass includes a new renderer's set-up (flags, geometry)
        t = time.perf_counter()
        images = [s.image for s in simulate_many(ARGS, shots)]
        passes.append(time.perf_counter() - t)
    batched, warm = passes[0], min(passes[1:])
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nanobrag_torch.dataset.cli", "--out", str(tmp / "job"),
                    "--shots", str(SHOTS), "--seed", "1", "--workers", "1", "--compile", "0", "--"] + ARGS,
                   check=True, capture_output=True)
    job = time.perf_counter() - t
    t = time.perf_counter()
    for k, s in enumerate(shots):
        subprocess.run([sys.executable, "-m", "nanobrag_torch"] + ARGS +
                       ["-misset", *map(repr, s["misset"]), "-floatfile", str(tmp / f"{k}.bin"),
                        "-intfile", str(tmp / f"{k}.img"), "-nopgm", "-nonoise", "-noprogress"],
                       check=True, capture_output=True)
    cli = time.perf_counter() - t
    assert len(images) == SHOTS
    per = {n: v / SHOTS * 1e3 for n, v in (("batched", batched), ("warm", warm), ("job", job), ("cli", cli))}
    return ["## 2. 64 small shots: batched vs 64 CLI runs", "",
            f"Shots: 64 random orientations, `{' '.join(ARGS[2:])}` (64x64 pixels), float32, eager "
            "kernel (NANOBRAG_COMPILE=0, as a single CLI run). `simulate_many` runs in this process, "
            "already warm from section 1 (torch, the HKL parse cache); the `nanoBragg-dataset` row "
            "is a new process end to end (imports, local cluster and worker start, HDF5 shards, "
            "master) and is the conservative number.", "",
            "| how | total (s) | per shot (ms) | CLI per shot / this per shot |", "|---|---|---|---|",
            f"| `simulate_many` (one process, first pass) | {batched:.2f} | {per['batched']:.1f} | "
            f"**{per['cli'] / per['batched']:.0f}x** |",
            f"| `simulate_many` (same process, best of 2 more passes) | {warm:.2f} | {per['warm']:.1f} | "
            f"{per['cli'] / per['warm']:.0f}x |",
            f"| `nanoBragg-dataset --workers 1` (cluster start, HDF5 shards, master) | {job:.2f} | "
            f"{per['job']:.1f} | **{per['cli'] / per['job']:.1f}x** |",
            f"| 64 x `python -m nanobrag_torch` | {cli:.2f} | {per['cli']:.1f} | 1 |", ""]


def kill_and_rerun() -> list:
    test = "tests/test_many_dataset.py::test_killed_job_rerun_matches_uninterrupted"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", test], cwd=ROOT, capture_output=True, text=True)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()
    return ["## 3. Kill and rerun", "",
            f"`python -m pytest -q {test}`: {last} ({time.perf_counter() - t:.1f} s). It runs a job "
            "of 10 shots (shard size 1) uninterrupted, starts the same job as a subprocess, "
            "SIGKILLs its process group (client, nanny, worker) once the manifest lists a shard, "
            "checks the manifest is incomplete and no master exists, leaves a stray temporary "
            "file, reruns the same command and compares every file of both directories byte for byte.", ""]


def readers(tmp: Path) -> list:
    spec = make_spec(ARGS, shots=6, seed=5, shard_size=4, noise=True, fluence_jitter=0.1, compile="0")
    run_job(spec, tmp / "readers", workers=1, log=lambda line: None)
    master = str(tmp / "readers" / "dataset.h5")
    entry = nx.nxload(master)["entry"]
    frames = [entry["data"][n].nxdata.shape for n in sorted(entry["data"]) if n.startswith("data_")]
    image = fabio.open(master)
    fields = ["instrument/beam/incident_wavelength", "instrument/beam/fluence", "sample/ub_matrix",
              "sample/unit_cell", "nanobrag/seed", "nanobrag/params", "nanobrag/failed"]
    found = ", ".join(f"`{f}` {entry[f].shape}" for f in fields)
    return ["## 4. Independent readers", "",
            f"nexusformat {version('nexusformat')}: `entry` is {entry.nxclass}, definition "
            f"{entry['definition']}; image blocks {frames} (external links to the shards); "
            f"per-shot metadata {found}.",
            f"fabio {version('fabio')}: `fabio.open(dataset.h5)` is {type(image).__name__} with "
            f"{image.nframes} frames of {image.data.shape}.", ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "many_shot.md")
    out = ap.parse_args().out
    versions = ", ".join(f"{p} {version(p)}" for p in ("h5py", "hdf5plugin", "dask", "distributed"))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sections = identity(tmp) + speed(tmp) + kill_and_rerun() + readers(tmp)
    s = stamp()
    lines = ["# Many-shot datasets: acceptance numbers", "",
             f"Generated by `python -m bench.many_shot` at git {s['git']}, {s['date']}; torch "
             f"{s['torch']}, numpy {s['numpy']}, python {s['python']}, {versions}; "
             f"{s['cpu']}, {os.cpu_count()} cores, load average {load:.1f} at the start (a shared "
             "machine: absolute times vary run to run, the ratios much less).", ""] + sections
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
