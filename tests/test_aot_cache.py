"""Compiled-kernel packages on disk: built in the background at the exit of a process whose
renders ran on numba (`test_numba_steps.py`), and a truncated package is rebuilt (not replaced
by the eager kernel on every later render); a package's library is extracted beside it once."""
from __future__ import annotations

import logging
import zipfile

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
    # one extracted library beside it, named by the rebuilt package's CRC (the old one went)
    with zipfile.ZipFile(package) as archive:
        (crc,) = [i.CRC for i in archive.infolist() if i.filename.endswith(".so")]
    assert [p.name for p in tmp_path.glob(f"{package.stem}.*.so")] == [f"{package.stem}.{crc:08x}.so"]
    np.testing.assert_array_equal(rebuilt, compiled)


def test_package_without_a_usable_model_library_is_moved_aside(tmp_path, caplog):
    """`aot_runner` opens the model library itself: a package with no library, or with one
    that is not a shared object, is rejected (moved to ``.bad``, to be rebuilt), not run."""
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


def test_model_library_copy_is_kept_beside_the_package(tmp_path, monkeypatch):
    """The package's library is extracted once, to ``<stem>.<crc>.so`` beside it (later
    loads open that copy); a rejected package loses its copy; a cache that cannot be written
    to gets a temporary copy and keeps none."""
    from pathlib import Path
    from nanobrag_torch.backends import aot_runner
    library = Path("/lib/x86_64-linux-gnu/libm.so.6")          # any loadable shared object
    path = tmp_path / "fused_lib.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(library, "model/x.wrapper.so")
        crc = archive.getinfo("model/x.wrapper.so").CRC
    (tmp_path / "fused_lib.00000000.so").write_bytes(b"an older copy")
    aot_runner._model_library(path)
    assert sorted(p.name for p in tmp_path.glob("*.so")) == [f"fused_lib.{crc:08x}.so"]
    assert (tmp_path / f"fused_lib.{crc:08x}.so").read_bytes() == library.read_bytes()

    def no_extract(*args):
        raise AssertionError("extracted again")
    monkeypatch.setattr(aot_runner, "_extract", no_extract)
    aot_runner._model_library(path)                         # the copy, not a new extraction

    aot_cache.reject(path, RuntimeError("test"))
    assert not list(tmp_path.glob("*.so"))
    read_only = tmp_path / "ro" / "fused_lib.pt2"
    read_only.parent.mkdir()
    path.with_suffix(".bad").rename(read_only)

    def cannot_write(*args):
        raise PermissionError("read-only file system")
    monkeypatch.setattr(aot_runner, "_extract", cannot_write)
    assert aot_runner._model_library(read_only)._name
    assert not list(read_only.parent.glob("*.so"))
