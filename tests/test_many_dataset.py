"""Dataset jobs on Dask (loopback only): shot k of 1- and 2-worker runs byte-identical to
simulate; failed shots reported without losing the others; independent readers (h5py,
nexusformat, fabio) find images and per-shot metadata; a killed job rerun ends with the
same directory as an uninterrupted one; a multi-panel (-detector) job stores each shot's
panels in the data slab, equal to single-shot renders, with module geometry `nxmx` reads."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fabio
import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle filter)
import nexusformat.nexus as nx
import numpy as np
import psutil
import pytest
from dask.distributed import Client, LocalCluster

from detector_util import TINY_GEOM, nxmx_corner_error_mm
from golden_util import GOLDEN, TOL
from nanobrag_torch import simulate
from nanobrag_torch.dataset import cli
from nanobrag_torch.dataset.job import make_spec, run_job, shot_for
from nanobrag_torch.io.crystfel_geom import read_geom
from nanobrag_torch.many import simulate_many, split_shot

HKL = str(GOLDEN / "inputs" / "P1_pub.hkl")
ARGS = ["-hkl", HKL] + ("-cell 50 60 70 90 90 90 -N 4 -lambda 1.5 -distance 80 -detpixels 20 -pixel 1.2 "
                        "-oversample 1").split()
SLOW_ARGS = ["-hkl", HKL] + ("-cell 50 60 70 90 90 90 -N 4 -lambda 1.5 -distance 80 -detpixels 96 "
                             "-pixel 0.25 -oversample 2 -mosaic 0.3 -mosaic_domains 6").split()


@pytest.fixture(autouse=True)
def _pinned_compile(monkeypatch):
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes; scheduler, nannies and workers on 127.0.0.1."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as c:
        yield c


def _listening(pids) -> set:
    return {conn.laddr.ip for pid in pids for conn in psutil.Process(pid).net_connections("inet")
            if conn.status == psutil.CONN_LISTEN}


def _files(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _image(master: Path, k: int, shard_size: int, group: str = "entry/data/data") -> np.ndarray:
    with h5py.File(master) as f:
        return f[f"{group}_{k // shard_size + 1:06d}"][k % shard_size]


def test_shot_k_identical_on_1_and_2_workers(tmp_path, cluster):
    spec = make_spec(ARGS, shots=7, seed=42, shard_size=3, noise=True, fluence_jitter=0.2,
                     wavelength_jitter=1e-3, compile="0")
    one, two = tmp_path / "one", tmp_path / "two"
    lines = []
    assert run_job(dict(spec), one, workers=1, log=lines.append)["complete"]
    assert any("shots 7/7 done" in line and "shots/s" in line and "ETA" in line for line in lines)
    assert lines[-1].startswith("summary: 7 shots, 7 rendered now")
    with Client(cluster) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)
        assert set(client.run(os.getpid).values()) <= {c.pid for c in psutil.Process().children(recursive=True)}
    # scheduler (this process), nannies and workers (its children) listen on loopback only
    assert _listening([os.getpid()] + [c.pid for c in psutil.Process().children(recursive=True)]) == {"127.0.0.1"}
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert run_job(dict(spec), two, scheduler=cluster.scheduler_address, log=lines.append)["complete"]
    assert _files(one) == _files(two)
    shots = [shot_for(spec, k) for k in range(7)]
    noisy = list(simulate_many(ARGS, [shots[k] for k in (0, 4, 6)]))
    for k, n in zip((0, 4, 6), noisy):
        single = simulate(ARGS, params=split_shot(shots[k])[0]).numpy()
        assert _image(two / "dataset.h5", k, 3).tobytes() == single.tobytes()
        assert _image(two / "dataset.h5", k, 3, "entry/nanobrag/noise").tobytes() == n.noise.tobytes()


def test_failed_shot_reported_and_others_kept(tmp_path, cluster, capsys):
    shots = [{"misset": [1.0, 2.0, 3.0]}, {"misset": [4.0, 5.0, 6.0], "cell": [50.0, 60.0]},
             {"misset": [7.0, 8.0, 9.0], "fluence": 3e24}, {"seed": "x"}]
    shot_file = tmp_path / "shots.jsonl"
    shot_file.write_text("".join(json.dumps(s) + "\n" for s in shots))
    out = tmp_path / "out"
    rc = cli.main(["--out", str(out), "--shot-file", str(shot_file), "--shard-size", "2", "--compile", "0",
                   "--scheduler", cluster.scheduler_address, "--"] + ARGS)
    err = capsys.readouterr().err
    assert rc == 1
    assert "shot 1 failed: params: 'cell' must have shape (6,)" in err and '"cell": [50.0, 60.0]' in err
    assert "shot 3 failed: shot seed must be an integer, got 'x'" in err
    assert "summary: 4 shots, 4 rendered now" in err and "2 failed" in err
    with h5py.File(out / "dataset.h5") as f:
        assert f["entry/nanobrag/failed"][()].tolist() == [False, True, False, True]
        assert "must have shape" in f["entry/nanobrag/error"][1].decode()
        assert np.isnan(f["entry/instrument/beam/fluence"][1])
    for k in (0, 2):
        single = simulate(ARGS, params=shots[k]).numpy()
        assert _image(out / "dataset.h5", k, 2).tobytes() == single.tobytes()
    assert not _image(out / "dataset.h5", 1, 2).any()
    other = ["--out", str(out), "--shot-file", str(shot_file), "--shard-size", "3", "--"] + ARGS
    assert cli.main(other) == 2 and "holds a different job" in capsys.readouterr().err


def test_independent_readers_find_images_and_metadata(tmp_path, cluster):
    spec = make_spec(ARGS, shots=5, seed=3, shard_size=2, noise=True, fluence_jitter=0.1,
                     wavelength_jitter=1e-3, compile="0")
    run_job(spec, tmp_path, scheduler=cluster.scheduler_address, log=lambda line: None)
    shots = [shot_for(spec, k) for k in range(5)]
    master = tmp_path / "dataset.h5"
    root = nx.nxload(str(master))
    entry = root["entry"]
    assert entry.nxclass == "NXentry" and str(entry["definition"]) == "NXmx"
    frames = [entry["data"][f"data_{i:06d}"].nxdata for i in (1, 2, 3)]
    assert [f.shape for f in frames] == [(2, 20, 20), (2, 20, 20), (1, 20, 20)]
    assert entry["instrument/detector"].nxclass == "NXdetector"
    assert entry["nanobrag/seed"].nxdata.tolist() == [s["seed"] for s in shots]
    np.testing.assert_array_equal(entry["instrument/beam/incident_wavelength"].nxdata,
                                  [s["lambda"] for s in shots])
    np.testing.assert_array_equal(entry["instrument/beam/fluence"].nxdata, [s["fluence"] for s in shots])
    assert entry["sample/ub_matrix"].nxdata.shape == (5, 3, 3)
    assert [json.loads(p) for p in entry["nanobrag/params"].nxdata] == shots
    ub = entry["sample/ub_matrix"].nxdata
    np.testing.assert_allclose(np.abs(np.linalg.det(ub)), 1 / (50 * 60 * 70), rtol=1e-9)
    image = fabio.open(str(master))
    assert image.nframes == 5
    np.testing.assert_array_equal(image.getframe(4).data, frames[2][0])


def test_killed_job_rerun_matches_uninterrupted(tmp_path, cluster):
    flags = ["--shots", "10", "--seed", "9", "--shard-size", "1", "--noise", "--fluence-jitter", "0.1",
             "--compile", "0", "--"] + SLOW_ARGS
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert cli.main(["--out", str(ref), "--scheduler", cluster.scheduler_address] + flags) == 0
    proc = subprocess.Popen([sys.executable, "-m", "nanobrag_torch.dataset.cli", "--out", str(out),
                             "--workers", "1"] + flags, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            manifest = out / "manifest.json"
            if manifest.exists() and json.loads(manifest.read_text())["shards"]:
                break
            time.sleep(0.02)
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    psutil.wait_procs([p for p in map(_process, family) if p], timeout=10)
    state = json.loads((out / "manifest.json").read_text())
    assert not state["complete"] and 1 <= len(state["shards"]) < 10
    assert not (out / "dataset.h5").exists()
    (out / ".interrupted.tmp").write_bytes(b"partial")            # as a write cut short leaves
    assert cli.main(["--out", str(out), "--scheduler", cluster.scheduler_address] + flags) == 0
    assert _files(out) == _files(ref)


def _process(pid: int):
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def test_multi_panel_dataset_shots_equal_single_renders(tmp_path, cluster):
    geom = tmp_path / "tiny.geom"
    geom.write_text(TINY_GEOM)
    args = ["-detector", str(geom)] + "-cell 30 30 30 90 90 90 -default_F 100 -N 3".split()
    spec = make_spec(args, shots=3, seed=11, shard_size=2, noise=True, compile="0")
    run_job(spec, tmp_path / "out", scheduler=cluster.scheduler_address, log=lambda line: None)
    master, ps = tmp_path / "out" / "dataset.h5", read_geom(str(geom))
    shots = [shot_for(spec, k) for k in range(3)]
    with h5py.File(master) as f:
        det = f["entry/instrument/detector"]
        places = [(det[p.name]["data_origin"][()], det[p.name]["data_size"][()]) for p in ps.panels]
    for k, (shot, alone) in enumerate(zip(shots, simulate_many(args, shots))):
        image, noise = _image(master, k, 2), _image(master, k, 2, "entry/nanobrag/noise")
        expected = simulate(args, params=split_shot(shot)[0]).numpy()      # [panels, slow, fast]
        outside = np.ones(image.shape, dtype=bool)
        for i, ((s0, f0), (ns, nf)) in enumerate(places):
            assert (ns, nf) == expected[i].shape and expected[i].min() > 0
            assert np.array_equal(image[s0:s0 + ns, f0:f0 + nf], expected[i])
            assert np.array_equal(noise[s0:s0 + ns, f0:f0 + nf], alone.noise[i])
            outside[s0:s0 + ns, f0:f0 + nf] = False
        assert not image[outside].any()
    shard = tmp_path / "out" / "shard_00000.h5"
    assert nxmx_corner_error_mm(shard, ps) <= TOL["multipanel"]["nxmx_corner_mm"]
