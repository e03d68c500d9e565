"""What keeps per-render overheads low (issue 16): a batch announces its renders so the first
one starts the kernel build, large input conversions are remembered across renders, eager
rows yield cores to a running build, kernel builds compile no ISA probes."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from nanobrag_torch import contract
from nanobrag_torch.backends import aot_cache, compile_policy


def _inp(pixels: int, steps: int):
    return SimpleNamespace(steps=steps, n_panels=1, spixels=pixels, fpixels=1)


def test_batch_of_small_renders_builds_at_its_first_line(monkeypatch):
    monkeypatch.setattr(compile_policy, "_seen", {})
    monkeypatch.setattr(compile_policy, "_expected", {"renders": 1})
    flags = SimpleNamespace(shape="square", factors="c")
    k = SimpleNamespace(pix0=torch.zeros(3))
    small = _inp(1 << 20, 1)                         # 2^20 pixel-steps, far below the threshold
    assert not compile_policy._want_build(small, flags, k)     # alone: the first waits
    assert compile_policy._want_build(small, flags, k)         # the second of its kind builds
    monkeypatch.setattr(compile_policy, "_seen", {})
    compile_policy.expect_renders(compile_policy.BACKGROUND_MIN_STEPS >> 20)
    assert compile_policy._want_build(small, flags, k)         # a batch worth it: the first


def test_large_conversion_remembered_until_the_source_changes():
    table = torch.rand(32, 32, 32, dtype=torch.float64)
    first = contract._converted(table, torch.float32, torch.device("cpu"))
    assert first.dtype == torch.float32 and torch.equal(first, table.float())
    assert contract._converted(table, torch.float32, torch.device("cpu")) is first
    table[0, 0, 0] = 7.0                               # in place: the version counter moves
    again = contract._converted(table, torch.float32, torch.device("cpu"))
    assert again is not first and again[0, 0, 0] == 7.0
    other = table.clone()
    assert contract._converted(other, torch.float32, torch.device("cpu")) is not again
    grad = table.clone().requires_grad_()
    a = contract._converted(grad, torch.float32, torch.device("cpu"))
    assert a.requires_grad and a is not contract._converted(grad, torch.float32, torch.device("cpu"))


def test_eager_rows_run_on_one_thread_while_a_build_runs(monkeypatch, tmp_path):
    path = tmp_path / "fused_x.pt2"
    seen = []
    call = aot_cache.switching(path, None, lambda: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    monkeypatch.setattr(aot_cache, "building", lambda p: True)
    call()
    monkeypatch.setattr(aot_cache, "building", lambda p: False)
    call()
    assert seen == [1, before] and torch.get_num_threads() == before


def test_builds_pick_a_vector_isa_without_probe_compilations(monkeypatch):
    from torch._inductor import config, cpu_vec_isa
    if not {"avx2", "avx512"} & set(cpu_vec_isa.x86_isa_checker()):
        pytest.skip("not an x86 CPU with AVX2 or AVX-512")
    monkeypatch.setattr(cpu_vec_isa.VecISA, "check_build",
                        lambda self, code: pytest.fail("an ISA probe was compiled"))
    saved = list(cpu_vec_isa.supported_vec_isa_list)
    with config.patch({"cpp.vec_isa_ok": True}), aot_cache._plain_vector_isas():
        picked = cpu_vec_isa.pick_vec_isa()
    assert str(picked) in {"avx512", "avx2"}
    assert cpu_vec_isa.supported_vec_isa_list == saved


def test_wrapper_compiles_beside_the_kernel_and_its_error_reaches_the_link(monkeypatch):
    import time
    from torch._inductor.cpp_builder import CppBuilder
    log = []

    def fake_build(self):
        log.append(("start", self.cmd))
        time.sleep(0.2)
        if "bad" in self.cmd:
            raise RuntimeError("wrapper failed")
        log.append(("end", self.cmd))
    monkeypatch.setattr(CppBuilder, "build", fake_build)
    step = {k: SimpleNamespace(cmd=c, get_command_line=lambda c=c: c) for k, c in
            [("wrapper", "g++ m.wrapper.cpp -c -o m.wrapper.o"), ("kernel", "g++ k.kernel.cpp -c -o k.kernel.o"),
             ("link", "g++ m.wrapper.o k.kernel.o -shared -o m.so")]}
    with aot_cache._wrapper_beside_kernel():
        for name in ("wrapper", "kernel", "link"):
            CppBuilder.build(step[name])
    order = [(e, c.split()[1]) for e, c in log]
    assert order.index(("start", "k.kernel.cpp")) < order.index(("end", "m.wrapper.cpp"))   # overlapped
    assert order.index(("end", "m.wrapper.cpp")) < order.index(("start", "m.wrapper.o"))    # joined first
    assert CppBuilder.build is fake_build
    bad = SimpleNamespace(cmd="g++ bad.wrapper.cpp -c", get_command_line=lambda: "g++ bad.wrapper.cpp -c")
    with pytest.raises(RuntimeError, match="wrapper failed"):
        with aot_cache._wrapper_beside_kernel():
            CppBuilder.build(bad)
            CppBuilder.build(step["link"])


def test_batch_announces_its_remaining_lines_then_forgets_them(tmp_path):
    from nanobrag_torch.batch import run_batch
    path = tmp_path / "runs.txt"
    path.write_text("-a\n# comment\n-b\n\n-c\n")
    announced = []
    assert run_batch(str(path), lambda args: announced.append(compile_policy._expected["renders"])) == 0
    assert announced == [3, 2, 1] and compile_policy._expected["renders"] == 1


def test_detector_and_sources_of_plain_configs_are_built_once():
    """Renders of one config without overrides share its detector and source grid (a
    -batch file's lines); a config equal but for the sign of a zero, an override or a
    -sourcefile gets its own."""
    from nanobrag_torch.precompute import precompute
    from nanobrag_torch.simulate import configure
    base = "-cell 100 100 100 90 90 90 -default_F 1 -N 2 -lambda 1 -distance 100 -detpixels 8".split()
    first = precompute(configure(base + ["-misset", "1", "2", "3"])[1])
    again = precompute(configure(base + ["-misset", "4", "5", "6"])[1])
    assert again.detector is first.detector and again.sources is first.sources
    signed = precompute(configure(base + ["-detector_rotx", "-0"])[1])
    unsigned = precompute(configure(base + ["-detector_rotx", "0"])[1])
    assert signed.detector is not unsigned.detector
    moved = precompute(configure(base)[1], params={"distance": torch.tensor(0.2, dtype=torch.float64)})
    assert moved.detector is not first.detector
    assert float(moved.detector.distance_m) == pytest.approx(0.2)
