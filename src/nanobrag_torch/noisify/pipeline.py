"""Noise passes on two threads: the seed's ran1 stream drawn ahead on a producer thread, the
Gaussian and Poisson arithmetic of pass 1 and the readout pairs of pass 2 on the caller's
thread, with the same bytes as `stream.noise_pass1` and `stream.readout_pairs`.

In pass 1 the C draws from the seed variable (flicker, Poisson) and from calib_seed
(calibration), both through ran1's one shuffle table, so in general the uniform stream depends
on the consumer. With flicker on, though, each pixel's calibration deviate is the spare of its
flicker pair (no draw) unless a Poisson mean above 1e6 shifts the pairing; while that holds,
every draw is the seed's next ran1 output, a sequence that depends on the seed alone. The
producer fills a ring with it (`stream.ring_fill`, chunks of `CHUNK`); the consumer
(`stream.noise_pass1_ring`) reads it. When a pixel would draw from calib_seed (or needs more
draws than the ring can hold ahead), the generator state at the consumer's position is rebuilt
from the producer's snapshot at the start of that chunk and the rest runs as `noise_pass1`.
Pass 2's readout deviates all come from the seed: its pairs are read from the ring as well
(`stream.ring_pairs`). Without calibration noise or with flicker, images of `MIN_PIXELS`
or more.
"""
from __future__ import annotations

import threading

import numpy as np

from ..crandom import _IDUM
from .stream import (
    RING_CALIB,
    RING_MORE,
    RING_OVERRUN,
    noise_pass1,
    noise_pass1_ring,
    readout_pairs,
    ring_fill,
    ring_pairs,
)

RING = 1 << 22            # draws held ahead (float32: 16 MiB)
CHUNK = 1 << 18           # draws per producer step
MARGIN = 1 << 12          # draws a pixel may take before the consumer waits for more
MIN_PIXELS = 1 << 16      # smaller images run `noise_pass1` directly


class _Producer(threading.Thread):
    """Draws the seed's ran1 stream into ``ring`` chunk by chunk, at most `RING` ahead of
    ``used`` (the consumer's position); ``snapshots`` maps a chunk's first position to the
    generator state (int64 [34], idum first) before it."""

    def __init__(self, state: np.ndarray):
        super().__init__(daemon=True)
        self.state = state
        self.ring = np.full(RING, np.nan, dtype=np.float32)   # NaN ends any read past `made`
        self.made = self.used = 0
        self.stop = False
        self.snapshots = {0: state.copy()}
        self.cond = threading.Condition()

    def run(self) -> None:
        try:
            self._fill()
        finally:                       # also on an error: the consumer then goes on alone
            with self.cond:
                self.stop = True
                self.cond.notify_all()

    def _fill(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.stop or self.made + CHUNK - RING <= self.used)
                if self.stop:
                    return
                for start in [s for s in self.snapshots if s + CHUNK <= self.used]:
                    del self.snapshots[start]
                self.snapshots[self.made] = self.state.copy()
            ring_fill(self.state, self.ring, self.made, CHUNK)       # releases the GIL
            with self.cond:
                self.made += CHUNK
                self.cond.notify_all()

    def state_at(self, pos: int) -> np.ndarray:
        """The generator state (int64 [34]) after ``pos`` draws of the stream."""
        start = max(s for s in self.snapshots if s <= pos)
        state = self.snapshots[start].copy()
        ring_fill(state, np.empty(1, dtype=np.float32), 0, pos - start)
        return state


class PipedNoise:
    """The seed's draws of noise pass 1 and of pass 2's readout pairs, one random state: call
    it with each piece of the image (float32 [n], pixel order, in place) and the running
    photon sum, then `readout_pairs`, then `close` (or use as a context manager) to leave the
    generator in ``state`` as `noise_pass1` and `readout_pairs` would."""

    def __init__(self, flicker: float, calibration: float, state, pixels: int):
        self.flicker, self.calibration, self.st = float(flicker), float(calibration), state
        self.producer = None
        if (state.calib is state.rng and pixels >= MIN_PIXELS
                and (flicker > 0.0 or calibration == 0.0)):
            ints = state.rng.ints.copy()
            ints[_IDUM] = state.seeds[0]
            self.producer = _Producer(ints)
            self.producer.start()
        self.pos = 0

    def __enter__(self) -> "PipedNoise":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, photon: np.ndarray, total: float) -> float:
        """Pass 1 on the next ``photon`` pixels; returns ``total`` + their counts."""
        i, st = 0, self.st

        def step(avail: int, margin: int) -> tuple:
            nonlocal i, total
            i, self.pos, total, why = noise_pass1_ring(photon, i, self.flicker, self.calibration,
                                                       st.rng.floats, self.producer.ring,
                                                       self.pos, avail, margin, total)
            return i == photon.size, why

        if self.producer is not None:
            self._through_ring(step)
        if i < photon.size:
            total = noise_pass1(photon[i:], self.flicker, self.calibration, st.seeds,
                                st.rng.ints, st.rng.floats, st.calib.ints, st.calib.floats,
                                st.calib is st.rng, total)
        return total

    def readout_pairs(self, pairs: int, v1s, v2s, rsqs) -> None:
        """`stream.readout_pairs` (the generator: this one's)."""
        k, st = 0, self.st

        def step(avail: int, margin: int) -> tuple:
            nonlocal k
            k, self.pos, over = ring_pairs(self.producer.ring, self.pos, avail, margin, k,
                                           pairs, v1s, v2s, rsqs)
            return k == pairs, RING_OVERRUN if over else RING_MORE

        if self.producer is not None:
            self._through_ring(step)
        if k < pairs:
            readout_pairs(pairs - k, st.seeds, st.rng.ints, v1s[k:], v2s[k:], rsqs[k:])

    def _through_ring(self, step) -> None:
        """``step(avail, margin) -> (finished, why)`` in turns with the producer until
        finished, or until the ring cannot serve (a calibration draw, a huge pixel): then
        the producer is closed."""
        prod, margin = self.producer, MARGIN
        while True:
            with prod.cond:
                prod.cond.wait_for(lambda: prod.made - self.pos >= margin or prod.stop)
                avail = prod.made
            if avail - self.pos < margin:          # the producer has stopped
                self.close()
                return
            finished, why = step(avail, margin)
            with prod.cond:
                prod.used = self.pos
                prod.cond.notify_all()
            if finished:
                return
            if why == RING_OVERRUN:
                margin *= 2
            if why == RING_CALIB or margin > RING - CHUNK:
                self.close()
                return

    def close(self) -> None:
        """Stop the producer; the generator state at the consumer's position into ``state``."""
        prod, self.producer = self.producer, None
        if prod is None:
            return
        with prod.cond:
            prod.stop = True
            prod.cond.notify_all()
        prod.join()
        state = prod.state_at(self.pos)
        self.st.rng.ints[:] = state
        self.st.seeds[0] = state[_IDUM]
