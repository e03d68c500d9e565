"""`printed_stats`: the C's ``%g`` statistics from vectorised sums with a proven error bound,
checked against the sequential sums (`noise.image_stats`, the C's order)."""
from __future__ import annotations

import numpy as np
import pytest

from nanobrag_torch import noise
from nanobrag_torch.printed_stats import printed_sums


def _texts(stats) -> list:
    return ["%g" % v for v in stats[2:]]


def _images(seed: int):
    """Images of the shapes a render gives (spots on a weak background, noise around an
    offset, signed values, a huge dynamic range) and of every size up to 1024^2."""
    rng = np.random.default_rng(seed)
    for k in range(60):
        n = int(rng.integers(2, 4000)) if k % 2 else int(rng.integers(4000, 1 << 20))
        kind = k % 4
        if kind == 0:
            x = rng.gamma(0.3, 50.0, n)
        elif kind == 1:
            x = rng.normal(5.0, 1e-3, n)
        elif kind == 2:
            x = rng.normal(0.0, 3.0, n)
        else:
            x = rng.lognormal(0.0, 6.0, n)
        yield x.astype(np.float32).reshape(1, n)


@pytest.mark.parametrize("seed", [0, 1])
def test_printed_texts_equal_the_sequential_sums(seed, monkeypatch):
    """Every image prints what the sequential sums print, and the bound is narrow enough
    that the vectorised sums serve nearly all of them (else the test would only check the
    fallback)."""
    monkeypatch.setattr(noise, "compiled_outputs", lambda: False)
    served = 0
    for image in _images(seed):
        exact, printed = noise.image_stats(image), noise.image_stats(image, exact=False)
        assert _texts(printed) == _texts(exact)
        assert printed[:2] == exact[:2]
        served += printed_sums(image.ravel()) is not None
    assert served >= 55


def test_a_value_on_a_rounding_boundary_falls_back(monkeypatch):
    """A mean exactly on a ``%g`` tie (1234565 -> 1.23456e+06, half to even): the bound's
    interval straddles the tie, so the sequential sums decide."""
    monkeypatch.setattr(noise, "compiled_outputs", lambda: False)
    image = np.full((4, 5), 1234565.0, dtype=np.float32)
    assert printed_sums(image.ravel()) is None
    assert _texts(noise.image_stats(image, exact=False))[0] == "1.23456e+06"


@pytest.mark.parametrize("bad", [np.nan, np.inf, 3e19])
def test_non_finite_sums_fall_back(bad, monkeypatch):
    """A NaN or infinite pixel, or a float32 square that overflows: the sequential sums."""
    monkeypatch.setattr(noise, "compiled_outputs", lambda: False)
    image = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    image[3, 4] = bad
    assert printed_sums(image.ravel()) is None
    assert _texts(noise.image_stats(image, exact=False)) == _texts(noise.image_stats(image))


def test_masked_and_tiny_images_use_the_sequential_sums(monkeypatch):
    """A mask (the mean over kept pixels, the rmsd over all) and images of fewer than two
    pixels take the sequential sums."""
    monkeypatch.setattr(noise, "compiled_outputs", lambda: False)
    calls = []
    monkeypatch.setattr(noise, "printed_sums", lambda v: calls.append(v.size))
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    noise.image_stats(image, mask=np.ones((4, 4)), exact=False)
    assert calls == []
    assert printed_sums(np.ones(1, dtype=np.float32)) is None


@pytest.mark.parametrize("flags, exact", [(["-nopgm"], False), (["-pgmfile", "a.pgm"], True),
                                          (["-pgmfile", "a.pgm", "-pgmscale", "2"], False)])
def test_the_cli_sums_sequentially_where_rmsd_sets_the_pgm_scale(flags, exact, tmp_path, monkeypatch):
    """nanoBragg's summary uses the bounded sums unless the rmsd scales the PGM (automatic
    -pgmscale), which needs the C's number, not only its text."""
    from cli_util import run_cli

    from nanobrag_torch import cli
    seen = []
    real = cli.result_lines
    monkeypatch.setattr(cli, "result_lines", lambda r, image, exact=True: seen.append(exact) or real(r, image, exact))
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")
    args = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "6.2",
            "-distance", "100", "-detpixels", "16", "-nonoise", "-noprogress", "-floatfile", "a.bin", *flags]
    assert run_cli(args, tmp_path)[0] == 0
    assert seen == [exact]
