"""The noise passes' draws on two threads (noisify/pipeline.py) give noisify.c's bytes: the
golden cases rerun with a tiny ring (many chunks, ring wrap-around, pixels that read past the
drawn stream), and the switch to the one-thread pass when a pixel's calibration deviate would
draw from calib_seed, against `stream.noise_pass1` and `stream.readout_pairs` (themselves
checked on every golden case)."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from cli_util import run_cli
from test_noisify import CASES, _setup

from nanobrag_torch.noisify import pipeline
from nanobrag_torch.noisify.cli import main
from nanobrag_torch.noisify.response import NoiseState, Response
from nanobrag_torch.noisify.stream import noise_pass1, readout_pairs

NOISY = [c for c in CASES if c["rc"] == 0 and "-nonoise" not in c["args"]]


@pytest.fixture
def tiny_ring(monkeypatch):
    """Ring constants small enough for the golden images; counts the consumer's stops."""
    for name, value in (("RING", 1 << 11), ("CHUNK", 1 << 8), ("MARGIN", 1 << 2),
                        ("MIN_PIXELS", 0)):
        monkeypatch.setattr(pipeline, name, value)
    stops = []
    consume = pipeline.noise_pass1_ring

    def counted(*args):
        result = consume(*args)
        stops.append(result[3])
        return result
    monkeypatch.setattr(pipeline, "noise_pass1_ring", counted)
    return stops


@pytest.mark.parametrize("case", NOISY, ids=[c["name"] for c in NOISY])
def test_golden_case_through_the_ring(case, tmp_path, tiny_ring):
    _setup(case, tmp_path)
    rc, _, _, _ = run_cli(case["args"], tmp_path, program=main)
    assert rc == 0
    for name, info in case["c_summary"]["output_files"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == info["sha256"], name
    args = case["args"]
    flicker = float(args[args.index("-flicker") + 1]) if "-flicker" in args else 0.0
    calibration = float(args[args.index("-calibration") + 1]) if "-calibration" in args else 0.03
    assert (len(tiny_ring) > 1) == (flicker > 0.0 or calibration == 0.0)


def test_ring_wraps_and_retries(tmp_path, tiny_ring):
    case = next(c for c in CASES if c["name"] == "poisson_branches_ramp")
    _setup(case, tmp_path)
    assert run_cli(case["args"], tmp_path, program=main)[0] == 0
    assert pipeline.RING_OVERRUN in tiny_ring and len(tiny_ring) > 2 * pipeline.RING // pipeline.CHUNK


def _passes(image, r, piped):
    """Pass 1 in two pieces, then pass 2's readout pairs: every output and the state."""
    photon, st, pairs = image.copy(), NoiseState(r), np.zeros((3, 3000))
    if piped:
        with pipeline.PipedNoise(r.flicker, r.calibration, st, photon.size) as draws:
            total = draws(photon[:1000], 0.0)
            total = draws(photon[1000:], total)
            draws.readout_pairs(3000, *pairs)
    else:
        total = noise_pass1(photon, r.flicker, r.calibration, st.seeds, st.rng.ints,
                            st.rng.floats, st.calib.ints, st.calib.floats, True, 0.0)
        readout_pairs(3000, st.seeds, st.rng.ints, *pairs)
    return photon, total, pairs, st.seeds, st.rng.ints, st.rng.floats


def test_calibration_draw_hands_over_to_one_thread(tiny_ring):
    """A mean above 1e6 (Gaussian branch) shifts the Gaussian pairing: the next pixel's
    calibration deviate draws from calib_seed, so the ring stops there."""
    image = np.random.default_rng(5).uniform(0, 30, 64 * 64).astype(np.float32)
    image[2500] = 3e6
    r = Response(seed=-9, flicker=0.1, calibration=0.03)
    piped, plain = _passes(image, r, True), _passes(image, r, False)
    assert tiny_ring[-1] == pipeline.RING_CALIB
    for ours, ref in zip(piped, plain):
        assert np.array_equal(ours, ref)


def test_readout_pairs_through_the_ring(tiny_ring):
    """Pass 1 and pass 2's pairs all from the ring (flicker and calibration pair up), across
    many ring laps."""
    image = np.random.default_rng(6).uniform(0, 30, 64 * 64).astype(np.float32)
    r = Response(seed=-4, flicker=0.1, calibration=0.03)
    piped, plain = _passes(image, r, True), _passes(image, r, False)
    assert pipeline.RING_CALIB not in tiny_ring
    for ours, ref in zip(piped, plain):
        assert np.array_equal(ours, ref)


def test_failed_staging_thread_leaves_no_file(tmp_path, monkeypatch):
    """The int image and PGM are written on a thread during the noise: its error still ends
    the run with the one-line error and no file."""
    from nanobrag_torch.errors import NanoBraggError
    from nanobrag_torch.noisify import cli

    def refuse(path, *args, **kwargs):
        raise NanoBraggError(f"{path}: cannot write output file: test")
    monkeypatch.setattr(cli, "write_pgm", refuse)
    case = next(c for c in CASES if c["name"] == "defaults_seed")
    _setup(case, tmp_path)
    before = set(os.listdir(tmp_path))
    rc, _, err, _ = run_cli(case["args"], tmp_path, program=main)
    assert rc == 9 and err.count("\n") == 1 and "image.pgm: cannot write" in err
    assert set(os.listdir(tmp_path)) == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_failed_producer_hands_over_to_one_thread(tiny_ring, monkeypatch):
    """A producer that dies (here: its third chunk fails) leaves the consumer to go on alone
    from the last drawn position, with the same results."""
    fill, chunks = pipeline.ring_fill, []

    def failing(state, ring, start, count):
        if ring.size == pipeline.RING:
            chunks.append(start)
            if len(chunks) == 3:
                raise MemoryError("test")
        return fill(state, ring, start, count)
    monkeypatch.setattr(pipeline, "ring_fill", failing)
    image = np.random.default_rng(7).uniform(0, 30, 64 * 64).astype(np.float32)
    r = Response(seed=-3, flicker=0.1, calibration=0.03)
    piped, plain = _passes(image, r, True), _passes(image, r, False)
    assert len(chunks) == 3
    for ours, ref in zip(piped, plain):
        assert np.array_equal(ours, ref)
