"""What limits noisify at 4096^2 (issue 13, acceptance 2): the sequential floor of noise pass 1.

On the golden README's run (a) (noise only: -seed 1 -readout 3 -flicker 0.02 -calibration
0.03), measures in one process: how many ran1 draws pass 1 and pass 2 make, the bare ran1
chain for pass 1's draws (one thread), pass 1's Gaussian/Poisson arithmetic alone on a stream
drawn beforehand (its critical path: each pixel's stream position depends on the previous
pixel's draws), pass 1 as one thread and as two (`noisify.pipeline.PipedNoise`); then the start-up
of a process (interpreter, imports, numba's first call) and both programs' whole runs.
Writes reports/noisify_floor.md.

    python bench/noisify_floor.py [--workdir /tmp/noisify_bench]   (after bench/noisify_speed.py)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "kernels")]
from bench.noisify_speed import BASE, NOISIFY, RUNS, timed, write_report  # noqa: E402

from nanobrag_torch.noisify import cli, pipeline, stream  # noqa: E402
from nanobrag_torch.noisify.response import NoiseState  # noqa: E402
from nanobrag_torch.noisify.settings import R_E_SQR  # noqa: E402


def _state_and_photons(work: Path):
    """(Response, photon image, seconds of numba's first call: the photon scaling)."""
    s = cli.parse(BASE.replace("../", f"{work}/").split())
    raw = np.fromfile(work / "timing_4096.bin", dtype="<f4")
    photon = np.empty_like(raw)
    start = time.perf_counter()
    cli.engine.photon_image(raw, s.fluence * R_E_SQR, s.photon_scale, photon)
    return cli.response_of(s, s.pixel_m), photon, time.perf_counter() - start


@numba.njit(cache=False)
def _lcg_steps(idum, target):
    """LCG steps (16807 mod 2^31 - 1, ran1's) from ``idum`` to ``target``."""
    n = 0
    while idum != target:
        idum = 16807 * idum % 2147483647
        n += 1
    return n


def _draws(r, photon) -> tuple:
    """(pass-1 draws of the seed, calib_seed advanced?, pass-2 draws, one-thread pass 1 s),
    counted as LCG steps of the seed variable (after the first draw, which loads the table)."""
    st = NoiseState(r)
    first = st.rng.ints.copy()
    first[0] = st.seeds[0]
    stream.ring_fill(first, np.empty(1, dtype=np.float32), 0, 1)
    image = photon.copy()
    start = time.perf_counter()
    stream.noise_pass1(image, r.flicker, r.calibration, st.seeds, st.rng.ints, st.rng.floats,
                       st.calib.ints, st.calib.floats, True, 0.0)
    one_thread = time.perf_counter() - start
    n1 = 1 + _lcg_steps(first[0], st.seeds[0])
    after1 = st.seeds[0]
    cli.engine.noise_pass2(image, r.gain, r.adc, r.readout, r.bits, st.rng.floats,
                           lambda n, *v: stream.readout_pairs(n, st.seeds, st.rng.ints, *v),
                           np.empty(image.size, dtype=np.uint16))
    return n1, st.seeds[1] != r.calib_seed, _lcg_steps(after1, st.seeds[0]), one_thread


def _split(r, photon) -> tuple:
    """Pass 1 with the ring filled and consumed in turn on one thread: (fill s, consume s)."""
    st = NoiseState(r)
    state = st.rng.ints.copy()
    state[0] = st.seeds[0]
    ring = np.full(pipeline.RING, np.nan, dtype=np.float32)
    image, i, pos, made, total, fill, consume = photon.copy(), 0, 0, 0, 0.0, 0.0, 0.0
    while i < image.size:
        start = time.perf_counter()
        count = pos + pipeline.RING - made
        stream.ring_fill(state, ring, made, count)
        made += count
        mid = time.perf_counter()
        i, pos, total, why = stream.noise_pass1_ring(image, i, r.flicker, r.calibration,
                                                     st.rng.floats, ring, pos, made,
                                                     pipeline.MARGIN, total)
        fill, consume = fill + mid - start, consume + time.perf_counter() - mid
        assert why != pipeline.RING_CALIB
    return fill, consume


def _two_threads(r, photon) -> float:
    st, image = NoiseState(r), photon.copy()
    start = time.perf_counter()
    with pipeline.PipedNoise(r.flicker, r.calibration, st, image.size) as draws:
        draws(image, 0.0)
    return time.perf_counter() - start


def _process(cmd: list, cwd: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2",
           "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'kernels'}"}
    return timed(cmd, cwd, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/noisify_bench")
    work = Path(parser.parse_args().workdir)
    assert (work / "timing_4096.bin").exists(), "run bench/noisify_speed.py first"
    load = [os.getloadavg()[0]]
    r, photon, first_call = _state_and_photons(work)
    n1, calib_moved, n2, one_thread = _draws(r, photon)
    chain_state = NoiseState(r).rng.ints.copy()
    chain_state[0] = r.seed
    start = time.perf_counter()
    stream.ring_fill(chain_state, np.empty(1, dtype=np.float32), 0, n1)
    chain = time.perf_counter() - start
    fill, consume = _split(r, photon)
    two = _two_threads(r, photon)
    (work / "floor").mkdir(exist_ok=True)
    py = sys.executable
    bare = min(_process([py, "-c", "pass"], work) for _ in range(3))
    helps = min(_process([py, "-m", "nanobrag_torch.noisify", "-h"], work) for _ in range(3))
    args = BASE.split()
    ours = min(_process([py, "-m", "nanobrag_torch.noisify", *args], work / "floor") for _ in range(2))
    c_time = min(_process([NOISIFY, *args], work / "floor") for _ in range(2))
    load.append(os.getloadavg()[0])
    pixels = photon.size
    rows = [
        ("ran1 draws of pass 1 (all from the seed variable)",
         f"{n1} ({n1 / pixels:.2f} per pixel; calib_seed advanced: {bool(calib_moved)})"),
        ("ran1 draws of pass 2 (readout)", f"{n2} ({n2 / pixels:.2f} per pixel)"),
        ("bare ran1 chain for pass 1's draws, one thread", f"{chain:.2f} s ({chain / n1 * 1e9:.1f} ns/draw)"),
        ("pass 1 arithmetic alone on a stream drawn beforehand (critical path)",
         f"{consume:.2f} s ({consume / pixels * 1e9:.0f} ns/pixel); drawing that stream: {fill:.2f} s"),
        ("pass 1, one thread (`stream.noise_pass1`)", f"{one_thread:.2f} s"),
        ("pass 1, two threads (`pipeline.PipedNoise`)", f"{two:.2f} s"),
        ("interpreter start (`python -c pass`)", f"{bare:.2f} s"),
        ("`python -m nanobrag_torch.noisify -h` (interpreter + imports)", f"{helps:.2f} s"),
        ("numba's first call (target registries, cache load of the photon scaling)",
         f"{first_call:.2f} s"),
        ("whole process (a), ours", f"{ours:.2f} s"),
        ("whole process (a), noisify.c", f"{c_time:.2f} s"),
    ]
    floor = helps + first_call + consume
    write_report("noisify_floor.md", [
        "# noisify at 4096^2: the sequential floor of noise pass 1",
        "",
        "Written by `python bench/noisify_floor.py`. Run (a) of `bench/noisify_speed.py` "
        f"(`{RUNS['(a) noise only'][0]}`), min of repeats for the processes.",
        "",
        "| quantity | measured |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        "Each pixel's position in the random stream depends on how many draws the previous "
        "pixels took (Gaussian pair rejections, the Poisson loop), and those counts depend on "
        "the log/sqrt/exp of each pixel's own draws, so the arithmetic is one dependent chain "
        "through the image: only the ran1 draws themselves can move to another core. "
        f"Start-up + numba's first call + that chain: {floor:.2f} s, against a target of "
        f"0.5 x C = {0.5 * c_time:.2f} s in this run."], load)

if __name__ == "__main__":
    main()
