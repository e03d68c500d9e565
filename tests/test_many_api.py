"""simulate_many: shot k byte-identical to simulate(args, params=shot_k); shared pieces built
once; noise images as the CLI writes them; deterministic shot generation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from golden_util import in_golden_dir
from nanobrag_torch import NanoBraggError, simulate
from nanobrag_torch import cli
from nanobrag_torch.io.smv import read_smv
from nanobrag_torch.many import ShotRenderer, misset_from_rotation, random_shot, simulate_many, split_shot
from nanobrag_torch.physics.vectors import rotate_xyz

ARGS = ("-hkl inputs/P1_pub.hkl -cell 50 60 70 90 90 90 -N 4 -lambda 1.5 -distance 80 -detpixels 24 "
        "-pixel 1 -oversample 1 -mosaic 0.3 -mosaic_domains 2").split()


@pytest.fixture(autouse=True)
def _pinned_compile(monkeypatch):
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")


def _shots(n: int = 6) -> list:
    shots = [random_shot(11, k, fluence=1e24, fluence_jitter=0.2, wavelength_A=1.5,
                         wavelength_jitter=2e-3, noise=True) for k in range(n)]
    shots[2]["distance"] = 85.0                    # a detector override: no shared detector
    shots[3]["default_F"] = 50.0                   # a structure-factor override
    shots[4]["Na"] = 3.0
    return shots


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shot_k_byte_identical_to_simulate(dtype):
    shots = _shots()
    with in_golden_dir():
        many = list(simulate_many(ARGS, shots, dtype=dtype))
        assert [m.index for m in many] == list(range(len(shots)))
        for k in (0, 2, 3, 5):
            single = simulate(ARGS, params=split_shot(shots[k])[0], dtype=dtype)
            assert single.dtype == many[k].image.dtype
            assert single.numpy().tobytes() == many[k].image.numpy().tobytes(), k
    assert len({m.image.sum().item() for m in many}) == len(shots)     # shots differ


def test_shared_pieces_built_once_and_reused():
    with in_golden_dir():
        r = ShotRenderer(ARGS)
        first = r.render({"misset": [1.0, 2.0, 3.0]})
        second = r.render({"misset": [4.0, 5.0, 6.0]})
        moved = r.render({"distance": 90.0})
    assert second.result.pre.sf is first.result.pre.sf
    assert second.result.pre.detector is first.result.pre.detector
    assert second.result.pre.sources is first.result.pre.sources
    assert moved.result.pre.detector is not first.result.pre.detector
    assert moved.result.pre.sf is first.result.pre.sf


def test_noise_image_equals_cli_noisefile(tmp_path):
    shot = {"misset": [3.0, 4.0, 5.0], "seed": 1234}
    with in_golden_dir():
        (img,) = simulate_many(ARGS, [shot])
        argv = ARGS + ["-misset", "3", "4", "5", "-seed", "1234", "-noisefile", str(tmp_path / "n.img"),
                       "-floatfile", str(tmp_path / "f.bin"), "-nopgm", "-intfile", str(tmp_path / "i.img")]
        assert cli.main(argv) == 0
    assert img.noise.dtype == np.uint16
    np.testing.assert_array_equal(img.noise, read_smv(str(tmp_path / "n.img")).data)
    raw = np.fromfile(tmp_path / "f.bin", dtype=np.float32).reshape(img.image.shape)
    assert raw.tobytes() == img.image.numpy().tobytes()


def test_bad_shot_raises_and_renderer_carries_on():
    with in_golden_dir():
        r = ShotRenderer(ARGS)
        with pytest.raises(NanoBraggError, match="cell"):
            r.render({"cell": [50.0, 60.0]})
        with pytest.raises(NanoBraggError, match="seed"):
            r.render({"seed": 1.5})
        ok = r.render({"misset": [1.0, 1.0, 1.0]})
        assert ok.image.numpy().tobytes() == simulate(ARGS, params={"misset": [1.0, 1.0, 1.0]}).numpy().tobytes()


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_misset_from_rotation_and_random_shots():
    rng = np.random.default_rng(0)
    for _ in range(20):
        U = _random_rotation(rng)
        angles = misset_from_rotation(U)
        v = torch.randn(3, dtype=torch.float64)
        rotated = rotate_xyz(v, *[math.radians(a) for a in angles]).numpy()
        np.testing.assert_allclose(rotated, U @ v.numpy(), atol=1e-12)
        assert set(random_shot(int(rng.integers(1000)), int(rng.integers(1000)))) == {"misset"}
    a = random_shot(5, 17, fluence=1e24, fluence_jitter=0.1, wavelength_A=1.0, wavelength_jitter=1e-3,
                    noise=True)
    assert a == random_shot(5, 17, fluence=1e24, fluence_jitter=0.1, wavelength_A=1.0,
                            wavelength_jitter=1e-3, noise=True)
    assert a["misset"] == random_shot(5, 17)["misset"]          # options do not shift the draws
    assert a != random_shot(5, 18, fluence=1e24, fluence_jitter=0.1, noise=True)
    assert all(type(v) in (float, int) for k, v in a.items() if k != "misset")


def test_identity_with_compiled_kernel(monkeypatch):
    """Under NANOBRAG_COMPILE=1 both paths use the compiled kernel: still byte-identical.
    (One orientation: the kind of render `test_compiled.py`'s hkl_file case builds, so a
    whole run of the suite builds that package once.)"""
    monkeypatch.setenv("NANOBRAG_COMPILE", "1")
    shots = _shots()[1:3]
    args = ARGS[:ARGS.index("-mosaic")]
    with in_golden_dir():
        many = list(simulate_many(args, shots))
        for k in range(2):
            single = simulate(args, params=split_shot(shots[k])[0])
            assert single.numpy().tobytes() == many[k].image.numpy().tobytes()


def test_plain_number_overrides_stay_float64():
    from nanobrag_torch.params import to_internal
    value = 1.2345678901234567e24
    assert to_internal({"fluence": value})["fluence"].item() == value
    degrees = 180.0 / math.pi                  # misset converts to radians here, in float64
    assert to_internal({"misset": [0.1, 0.2, 0.3]})["misset"].tolist() == [x / degrees for x in (0.1, 0.2, 0.3)]
