"""Compiled-kernel packages on disk: built in the background at the exit of a process whose
renders ran on numba (`test_numba_steps.py`), and a truncated package is rebuilt (not replaced
by the eager kernel on every later render)."""
from __future__ import annotations

import logging

import numpy as np

from golden_util import GOLDEN, TOL, cases, in_golden_dir, parity, passes
from nanobrag_torch import simulate
from nanobrag_torch.backends import aot_cache, compile_policy


def _packages(cache):
    return sorted(cache.glob("fused_*.pt2"))


def test_background_build_then_truncated_package_rebuilt(monkeypatch, tmp_path, caplog):
    case = next(c for c in cases() if c["name"] == "mosaic_seeded")
    golden = np.load(GOLDEN / case["file"])["floatimage"]
    monkeypatch.setenv("NANOBRAG_CACHE", str(tmp_path))
    monkeypatch.setattr(aot_cache, "_loaded", {})
    monkeypatch.setattr(compile_policy, "_seen", {})
    caplog.set_level(logging.INFO, logger="nanobrag_torch")
    with in_golden_dir():
        monkeypatch.setenv("NANOBRAG_COMPILE", "0")
        eager = simulate(case["physics_args"], dtype="float32").numpy()
        # auto: the second render of a kind runs the numba step sum; the build starts at exit
        monkeypatch.setenv("NANOBRAG_COMPILE", "auto")
        monkeypatch.setattr(compile_policy, "_at_exit", {})
        first = simulate(case["physics_args"], dtype="float32").numpy()
        np.testing.assert_array_equal(first, eager)           # too small alone: eager, no build
        second = simulate(case["physics_args"], dtype="float32").numpy()
        compile_policy.build_at_exit()
        assert "building the compiled kernel in the background" in caplog.text
        rel = TOL["compiled"]["vs_eager_rel"]
        np.testing.assert_allclose(second, eager, rtol=rel, atol=rel * eager.max())
        lock = next(tmp_path.glob("fused_*.lock"), None)
        package = lock.with_suffix(".pt2") if lock else _packages(tmp_path)[0]
        aot_cache.wait(package)
        assert package.exists(), (tmp_path / package.with_suffix(".log").name).read_text()
        compiled = simulate(case["physics_args"], dtype="float32").numpy()
        assert str(package) in aot_cache._loaded
        corr, ratio, _ = parity(compiled, golden)
        assert passes(corr, ratio, "float32")

        # a truncated package (and a fresh process: nothing loaded) is moved aside and rebuilt
        package.write_bytes(package.read_bytes()[: package.stat().st_size // 2])
        aot_cache._loaded.clear()
        monkeypatch.setenv("NANOBRAG_COMPILE", "1")
        # inductor writes its default cache directory into the environment on first use: the
        # foreground rebuild must still keep its artefacts in our cache, not there
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor_default"))
        caplog.clear()
        rebuilt = simulate(case["physics_args"], dtype="float32").numpy()
    assert not [f for f in (tmp_path / "inductor_default").rglob("*") if f.is_file()]
    assert "unusable" in caplog.text and "rebuilding" in caplog.text
    assert package.with_suffix(".bad").exists() and package.exists()
    assert str(package) in aot_cache._loaded          # the rebuilt package is in use
    np.testing.assert_array_equal(rebuilt, compiled)


def test_package_without_a_usable_model_library_is_moved_aside(tmp_path, caplog):
    """`aot_runner` opens the model library itself: a package with no library, or with one
    that is not a shared object, is rejected (moved to ``.bad``, to be rebuilt), not run."""
    import zipfile
    for name, members in (("fused_nolib.pt2", {"model/data.json": b"{}"}),
                          ("fused_badlib.pt2", {"model/x.wrapper.so": b"not an ELF file"})):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, data)
        with caplog.at_level(logging.WARNING, logger="nanobrag_torch"):
            assert aot_cache.load(path) is None
        assert not path.exists() and path.with_suffix(".bad").exists()
        assert f"compiled kernel {name} unusable" in caplog.text
