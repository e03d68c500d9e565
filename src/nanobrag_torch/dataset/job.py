"""A many-shot dataset job: shots -> shards on Dask workers -> a resumable output directory.

The job spec (a JSON dict, `make_spec`) fixes every shot: shot k is `shot_for(spec, k)`,
a pure function of (job seed, k) or the k-th entry of an explicit shot list, and every
render runs under the spec's NANOBRAG_COMPILE choice, so any shard rendered again (a rerun,
a retried task) has the same bytes.  Shard i holds shots [i * shard_size, (i + 1) *
shard_size) in ``shard_NNNNN.h5``, built in memory and written atomically
(`io.atomic.atomic_write`: hidden temporary file, fsync, rename).  ``manifest.json``
(rewritten atomically after each shard) records the spec and each finished shard's SHA-256;
a rerun of the same spec in the same directory renders only the shards it lacks and, when
all are there, writes the NXmx master ``dataset.h5``.  The directory's final content does
not depend on how often the job was interrupted.  A shot that raises is stored as failed
(zero image, its error and parameters kept) and reported; the others are unaffected.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

from ..backends.compile_policy import COMPILE_MIN_STEPS
from ..errors import NanoBraggError
from ..many import ShotRenderer, random_shot
from ..precompute import precompute
from ..io.atomic import atomic_write
from .nexus import ShotFailure, master_bytes, shard_bytes

FORMAT = "nanobrag-dataset/1"
MANIFEST = "manifest.json"
MASTER = "dataset.h5"
# spec fields a rerun must repeat exactly (compile "auto" adopts the recorded choice)
KEY_FIELDS = ("args", "shots", "seed", "shard_size", "dtype", "device", "orientation",
              "fluence_jitter", "wavelength_jitter", "noise", "shot_list")


def make_spec(args: list, *, shots: int, seed: int = 0, shard_size: int = 16, dtype: str = "float32",
              device: str = "cpu", compile: str = "auto", orientation: bool = True,
              fluence_jitter: float = 0.0, wavelength_jitter: float = 0.0, noise: bool = False,
              shot_list: list | None = None) -> dict:
    """The job spec.  `shot_list` (dicts as for `simulate_many`) replaces the generated shots;
    `compile`: NANOBRAG_COMPILE for every render ("0", "1", or "auto": decided by `resolve_compile`)."""
    if shot_list is not None:
        shots = len(shot_list)
    if shots < 1 or shard_size < 1:
        raise NanoBraggError("--shots and --shard-size must be at least 1")
    return {"format": FORMAT, "args": list(args), "shots": int(shots), "seed": int(seed),
            "shard_size": int(shard_size), "dtype": dtype, "device": device, "compile": compile,
            "orientation": orientation, "fluence_jitter": float(fluence_jitter),
            "wavelength_jitter": float(wavelength_jitter), "noise": noise, "shot_list": shot_list}


def shot_for(spec: dict, k: int) -> dict:
    """Shot k of the job (overrides in flag units, plus "seed" with noise)."""
    if spec["shot_list"] is not None:
        return dict(spec["shot_list"][k])
    renderer = _renderer(spec)
    beam = renderer.cfg.beam
    return random_shot(spec["seed"], k, orientation=spec["orientation"], fluence=beam.fluence_per_m2,
                       fluence_jitter=spec["fluence_jitter"], wavelength_A=beam.lambda0_m * 1e10,
                       wavelength_jitter=spec["wavelength_jitter"], noise=spec["noise"])


def shard_count(spec: dict) -> int:
    return -(-spec["shots"] // spec["shard_size"])


def shard_name(i: int) -> str:
    return f"shard_{i:05d}.h5"


def shard_range(spec: dict, i: int) -> range:
    return range(i * spec["shard_size"], min((i + 1) * spec["shard_size"], spec["shots"]))


@functools.lru_cache(maxsize=2)
def _renderer_cached(key: str) -> ShotRenderer:
    spec = json.loads(key)
    return ShotRenderer(spec["args"], dtype=spec["dtype"], device=spec["device"])


def _renderer(spec: dict) -> ShotRenderer:
    """One renderer per (args, dtype, device) per process: the shared pieces stay built."""
    return _renderer_cached(json.dumps({k: spec[k] for k in ("args", "dtype", "device")}))


def resolve_compile(spec: dict, workers: int) -> str:
    """"auto" -> "1" when each worker's share of the job is at least the backend's compile
    threshold of pixel-steps (the one-off compile then pays), else "0"."""
    if spec["compile"] != "auto":
        return spec["compile"]
    renderer = _renderer(spec)
    pre = precompute(renderer.cfg, None, renderer.shared)
    work = pre.steps * pre.shape[0] * pre.shape[1] * spec["shots"] / max(workers, 1)
    return "1" if work >= COMPILE_MIN_STEPS else "0"


def render_shard(spec: dict, i: int, out_dir: str) -> dict:
    """Render shard i into out_dir (a Dask task; runs anywhere that sees out_dir).  Sets
    NANOBRAG_COMPILE to the spec's choice in the worker process.

    Returns ``{"shard", "file", "sha256", "failures": [{"index", "shot", "error"}]}``."""
    os.environ["NANOBRAG_COMPILE"] = spec["compile"]
    renderer = _renderer(spec)
    records = []
    for k in shard_range(spec, i):
        shot = shot_for(spec, k)
        try:
            records.append(renderer.render(shot, k))
        except Exception as exc:  # one bad shot must not lose the others: keep it, flagged
            text = str(exc) if isinstance(exc, NanoBraggError) else f"{type(exc).__name__}: {exc}"
            records.append(ShotFailure(k, shot, text))
    data = shard_bytes(renderer, records, spec)
    atomic_write(os.path.join(out_dir, shard_name(i)), data)
    failures = [{"index": r.index, "shot": r.shot, "error": r.error}
                for r in records if isinstance(r, ShotFailure)]
    return {"shard": i, "file": shard_name(i), "sha256": hashlib.sha256(data).hexdigest(),
            "failures": failures}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Manifest:
    """``manifest.json``: the spec and the finished shards of one output directory."""

    def __init__(self, out_dir: Path, spec: dict):
        self.path = out_dir / MANIFEST
        self.dir = out_dir
        self.shards: dict = {}
        if self.path.exists():
            old = json.loads(self.path.read_text())
            if (old.get("format") != FORMAT or any(old["spec"].get(k) != spec[k] for k in KEY_FIELDS)
                    or spec["compile"] not in ("auto", old["spec"]["compile"])):
                raise NanoBraggError(f"{out_dir}: holds a different job (see {self.path}); "
                                     "use another --out directory")
            spec["compile"] = old["spec"]["compile"]          # "auto" adopts the recorded choice
            self.shards = {int(k): v for k, v in old["shards"].items() if self._intact(v)}
        self.spec = spec

    def _intact(self, entry: dict) -> bool:
        path = self.dir / entry["file"]
        return path.exists() and _sha256(path) == entry["sha256"]

    def add(self, entry: dict) -> None:
        self.shards[entry["shard"]] = entry
        self.save()

    def save(self, complete: bool = False) -> None:
        text = json.dumps({"format": FORMAT, "spec": self.spec, "complete": complete,
                           "shards": {str(k): v for k, v in sorted(self.shards.items())}},
                          indent=1, sort_keys=True)
        atomic_write(self.path, (text + "\n").encode())

    def failures(self) -> list:
        return sorted((f for e in self.shards.values() for f in e["failures"]), key=lambda f: f["index"])


def _clean_partials(out_dir: Path) -> None:
    """Remove the temporary files (`atomic_write`'s ``.*.tmp``) a killed run left behind."""
    for p in out_dir.glob(".*.tmp"):
        p.unlink()


def _local_client(workers: int):
    """A LocalCluster of `workers` single-threaded processes listening on 127.0.0.1 only.  Its
    processes are ours, so they keep freed memory as the command-line tools do
    (`heap.keep_freed_memory`; a running scheduler's workers are left as they are)."""
    import logging

    from dask.distributed import Client, LocalCluster

    from ..heap import keep_freed_memory
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    client = Client(cluster)
    client.run(keep_freed_memory)
    return client, cluster


def run_job(spec: dict, out_dir: str | os.PathLike, *, workers: int = 2, scheduler: str | None = None,
            log=print) -> dict:
    """Render every missing shard of `spec` into `out_dir`, then the master file.

    `workers`: processes of a local cluster (ignored with `scheduler`, the address of a
    running Dask scheduler).  `log(line)` gets progress lines (shots done, shots/s, ETA),
    failures and the summary.  Returns ``{"shots", "rendered", "failures", "seconds",
    "complete", "master"}``."""
    if scheduler is None and workers < 1:
        raise NanoBraggError("--workers must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _renderer(spec)                                   # bad flags fail here, before any cluster
    _clean_partials(out)
    manifest = Manifest(out, spec)
    spec["compile"] = resolve_compile(spec, workers)
    todo = [i for i in range(shard_count(spec)) if i not in manifest.shards]
    total = spec["shots"]
    done_before = sum(len(shard_range(spec, i)) for i in manifest.shards)
    start = time.monotonic()
    lost = []
    if todo:
        lost = _run_shards(spec, out, todo, manifest, workers, scheduler, log, done_before, start)
    seconds = time.monotonic() - start
    rendered = sum(len(shard_range(spec, i)) for i in manifest.shards) - done_before
    complete = not lost
    if complete:
        names = [manifest.shards[i]["file"] for i in range(shard_count(spec))]
        atomic_write(out / MASTER, master_bytes(str(out), names))
    manifest.save(complete=complete)
    failures = manifest.failures()
    for f in failures:
        log(f"shot {f['index']} failed: {f['error']}; params {json.dumps(f['shot'], sort_keys=True)}")
    for i in lost:
        log(f"shard {i} (shots {shard_range(spec, i).start}-{shard_range(spec, i).stop - 1}) not written; "
            "rerun the same command to finish it")
    rate = rendered / seconds if seconds > 0 else float("inf")
    log(f"summary: {total} shots, {rendered} rendered now ({rate:.2f} shots/s, {seconds:.1f} s), "
        f"{len(failures)} failed, {len(lost)} shards missing -> "
        f"{out / MASTER if complete else out / MANIFEST}")
    return {"shots": total, "rendered": rendered, "failures": failures, "seconds": seconds,
            "complete": complete, "master": str(out / MASTER) if complete else None}


def _run_shards(spec, out: Path, todo: list, manifest: Manifest, workers, scheduler, log,
                done_before: int, start: float) -> list:
    """Submit the shards, record each as it finishes, log progress; returns shards lost."""
    from dask.distributed import Client, as_completed
    client, cluster = (Client(scheduler), None) if scheduler else _local_client(workers)
    run = uuid.uuid4().hex[:8]          # task keys of this run only: never a result of another run
    lost = []
    try:
        futures = [client.submit(render_shard, spec, i, str(out.resolve()), key=f"nb-shard-{run}-{i}",
                                 pure=False, retries=1) for i in todo]
        index = {f.key: i for f, i in zip(futures, todo)}
        done = done_before
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                entry = fut.result()
            except Exception as exc:  # a shard whose task died (worker lost, disk full): keep going
                log(f"shard {i} failed: {type(exc).__name__}: {exc}")
                lost.append(i)
                continue
            manifest.add(entry)
            done += len(shard_range(spec, i))
            elapsed = time.monotonic() - start
            rate = (done - done_before) / elapsed if elapsed > 0 else 0.0
            eta = (spec["shots"] - done) / rate if rate > 0 else float("nan")
            log(f"shots {done}/{spec['shots']} done, {rate:.2f} shots/s, ETA {eta:.0f} s")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return sorted(lost)
