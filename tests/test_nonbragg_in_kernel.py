"""Amorphous components summed inside the spots kernel (`components.in_kernel`,
`torch_kernel.background_sum`): the image equals the spots plus the components' own pass
within [nonbragg] fast32_rel of max; the render takes that form only for the first render of
a geometry whose package is ready, and the components' own pass (then their kept images)
otherwise."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from golden_util import TOL
from nanobrag_torch.backends import compile_policy, torch_eager
from nanobrag_torch.nonbragg import components
from nanobrag_torch.nonbragg.components import add_background, in_kernel, kept_in_kernel, render_components
from nanobrag_torch.scaling import to_photons
from nanobrag_torch.simulate import _precompute, configure, run

REL = TOL["nonbragg"]["fast32_rel"]
simulate = importlib.import_module("nanobrag_torch.simulate")   # the module (the package exports a function of that name)
BASE = ("-cell 41 52 63 85 95 100 -misset -15 7 33 -default_F 1000 -N 6 -lambda 1.0 -distance 60 "
        "-detpixels 24 -pixel 0.5 -oversample 1 -beamsize 0.001").split()
WATER = "-bg_stol water -bg_thick 1e-6".split()               # sizes: spots and background comparable
AIR = "-bg_stol air -bg_thick 1e-5 -bg_density 0.0012 -bg_MW 28.96".split()


def _both(args: list, monkeypatch) -> tuple:
    """float32 images [slow, fast] as numpy float64 of the render of `args`: (spots alone,
    the components' own pass, spots with the components in the eager kernel)."""
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")
    s, cfg = configure(BASE + args)
    pre = _precompute(cfg, None, None)
    dt = torch.float32
    background = render_components(pre, s.backgrounds, s.beamsize_m, dt, "cpu")
    spots = to_photons(pre, torch_eager.accumulate(pre.inputs, pre.flags, dt, "cpu")[0][0], dt)
    fused = in_kernel(pre, s.backgrounds, s.beamsize_m)
    assert fused is not None and fused[1].background
    together = to_photons(pre, torch_eager.accumulate(*fused, dt, "cpu")[0][0], dt)
    return tuple(x.double().numpy() for x in (spots, background, together))


@pytest.mark.parametrize("extra", [
    WATER + AIR,
    ["-polar", "0.8", "-polar_vector", "0", "0.6", "0.8", "-roi", "3", "20", "2", "17"] + WATER + AIR,
    ["-point_pixel", "-nopolar", "-twotheta", "15"] + AIR,
    ["-water", "0.05", "-lambda", "1.5"] + WATER,
])
def test_in_kernel_equals_spots_plus_components_own_pass(extra, monkeypatch):
    components._SEEN.clear()
    spots, background, together = _both(extra, monkeypatch)
    share = background.sum() / (spots.sum() + background.sum())
    assert 0.02 < share < 0.98                     # both parts matter in the comparison
    # the components' part of the one render against their own pass: within REL of their
    # largest value, plus the float32 rounding of the pixel's total (two ulps: the kernel
    # adds the components to the step sum, where a spot can be ~1000x the background)
    bound = REL * np.abs(background).max() + 2.0 ** -22 * np.abs(spots + background)
    assert np.all(np.abs(together - spots - background) <= bound)
    apart = spots + background
    np.testing.assert_allclose(together, apart, rtol=0, atol=REL * np.abs(apart).max())


@pytest.mark.parametrize("extra, reason", [
    (["-phi", "0", "-osc", "1", "-phisteps", "2"] + WATER, "phi carry-over (order-dependent)"),
    (WATER + ["-bg_oversample", "2"], "component sub-pixels"),
    (["-oversample", "2"] + WATER + ["-bg_oversample", "2"], "sub-pixels (the own pass costs less per term)"),
    (["-dispersion", "10", "-dispsteps", "3"] + WATER, "several sources (idem)"),
    (["-dmin", "3"] + WATER, "-dmin"),
    (["-quirks", "fixed"] + WATER, "fixed factors"),
    (["-detector_thick", "100", "-detector_thicksteps", "2"] + WATER, "sensor layers"),
    (["-bg_stol", "ice", "-bg_thick", "0.0002"], "ice.stol has no node grid"),
])
def test_in_kernel_declines(extra, reason):
    components._SEEN.clear()
    s, cfg = configure(BASE + extra)
    assert in_kernel(_precompute(cfg, None, None), s.backgrounds, s.beamsize_m) is None, reason


def test_in_kernel_reads_a_rewritten_table(tmp_path, monkeypatch):
    """A table file rewritten between two renders: the in-kernel sum takes its new rows, as
    the own pass does (the kernel's node fields are kept per table content, not file name)."""
    from nanobrag_torch.io.stol import TABLE_DIR
    table = tmp_path / "mine.stol"
    rows = [line.split() for line in (TABLE_DIR / "air.stol").read_text().splitlines() if line.strip()]
    table.write_text("".join(f"{x} {F}\n" for x, F, *_ in rows))
    args = ["-bg_stol", str(table), "-bg_thick", "1e-5", "-bg_density", "0.0012", "-bg_MW", "28.96"]
    components._SEEN.clear()
    spots, first, together = _both(args, monkeypatch)
    np.testing.assert_allclose(together - spots, first, rtol=0, atol=REL * np.abs(together).max())
    table.write_text("".join(f"{x} {2 * float(F)!r}\n" for x, F, *_ in rows))   # G = F^2: x 4
    components._SEEN.clear()
    spots, second, together = _both(args, monkeypatch)
    np.testing.assert_allclose(second, 4 * first, rtol=1e-5, atol=0)
    np.testing.assert_allclose(together - spots, second, rtol=0, atol=REL * np.abs(together).max())


def test_lookup_stays_in_the_node_table():
    """A pixel direction beyond the table's last node, or NaN, reads the last node (the
    compiled kernel's gather does not check its index): G_top, or NaN from the geometry."""
    from nanobrag_torch.backends import torch_kernel as tk
    components._SEEN.clear()
    s, cfg = configure(BASE + WATER)
    inp, fl = in_kernel(_precompute(cfg, None, None), s.backgrounds, s.beamsize_m)
    k = tk.kernel_inputs(inp.to(torch.float32, "cpu"), fl)
    top = int(k.bg_top)
    G_top = torch.tensor([int(k.bg_nodes[top])], dtype=torch.int64).to(torch.int32).view(torch.float32)
    d = [torch.tensor([1e30, float("nan")]).reshape(2, 1, 1, 1), *(torch.zeros(2, 1, 1, 1),) * 2]
    got = tk.background_sum(d, k)
    assert torch.equal(got, (G_top * k.bg_weight[0]).expand(2)), got


@pytest.mark.parametrize("extra", [[], ["-quirks", "fixed"], ["-water", "0.05", "-point_pixel"]])
def test_kept_image_in_the_kernel_is_the_add(extra, monkeypatch):
    """A kept background added inside the kernel: the same float32 numbers as the spots
    scaled to photons and then the kept image added, bit for bit."""
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")
    s, cfg = configure(BASE + extra + WATER + AIR)
    pre = _precompute(cfg, None, None)
    dt = torch.float32
    background = render_components(pre, s.backgrounds, s.beamsize_m, dt, "cpu")
    inputs, flags = kept_in_kernel(pre, background)
    assert flags.background_image and not flags.background
    together = torch_eager.accumulate(inputs, flags, dt, "cpu")[0][0]
    spots = to_photons(pre, torch_eager.accumulate(pre.inputs, pre.flags, dt, "cpu")[0][0], dt)
    assert torch.equal(together, add_background(spots, background, cfg.quirks))
    assert 0.02 < float(background.sum() / together.sum()) < 0.98     # both parts matter


@pytest.mark.parametrize("extra, reason", [
    (["-roi", "3", "20", "2", "17"], "an ROI (pixels outside keep zero)"),
    (["-phi", "0", "-osc", "1", "-phisteps", "2"], "phi carry-over (order-dependent)"),
])
def test_kept_in_kernel_declines(extra, reason):
    s, cfg = configure(BASE + extra + WATER)
    pre = _precompute(cfg, None, None)
    background = render_components(pre, s.backgrounds, s.beamsize_m, torch.float32, "cpu")
    assert kept_in_kernel(pre, background) is None, reason


def test_render_takes_the_kernel_form_once_per_geometry(monkeypatch):
    """First render of a geometry with its package ready: in the kernel (no own pass); the
    second: the own pass (images kept); the third adds the kept images; all equal within
    the tolerance.  Without a ready package: the own pass from the first render."""
    passes = []
    real = components.render_components

    def spy(*args, **kwargs):
        passes.append(len(components._IMAGES))
        return real(*args, **kwargs)
    monkeypatch.setattr(simulate, "render_components", spy)
    monkeypatch.setattr(simulate, "package_ready", lambda *a: True)
    components._SEEN.clear()
    components._IMAGES.clear()
    args = BASE + WATER + AIR
    images = [run(args).image.double().numpy() for _ in range(3)]
    assert passes == [0, 1]                        # renders 2 and 3 (3: the kept image)
    for image in images[1:]:
        np.testing.assert_allclose(images[0], image, rtol=0, atol=REL * np.abs(image).max())
    monkeypatch.setattr(simulate, "package_ready", lambda *a: False)
    components._SEEN.clear()
    components._IMAGES.clear()
    passes.clear()
    run(args)
    assert passes == [0]


def test_in_kernel_only_for_float32_torch_renders_without_component_tensors(monkeypatch):
    asked = []
    monkeypatch.setattr(simulate, "package_ready", lambda *a: asked.append(a) or True)
    components._SEEN.clear()
    run(BASE + WATER, dtype="float64")
    run(BASE + WATER, params={"bg0_thick": torch.tensor(0.0002, dtype=torch.float64, requires_grad=True)})
    assert asked == []
    run(BASE + WATER)
    assert len(asked) == 1 and asked[0][1].background


def test_package_of_the_kernel_form(tmp_path, monkeypatch):
    """The compiled package with the components inside (built here) renders what the eager
    kernel form renders; a package is found again by its kind without re-deriving it."""
    monkeypatch.setenv("NANOBRAG_CACHE", str(tmp_path))
    monkeypatch.setenv("NANOBRAG_COMPILE", "1")
    compile_policy._READY.clear()
    components._SEEN.clear()
    s, cfg = configure(BASE + WATER + AIR)
    pre = _precompute(cfg, None, None)
    fused = in_kernel(pre, s.backgrounds, s.beamsize_m)
    assert compile_policy.package_ready(*fused, torch.float32, "cpu")
    assert len(list(tmp_path.glob("fused_*.pt2"))) == 1
    compiled = torch_eager.accumulate(*fused, torch.float32, "cpu")[0]
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")
    eager = torch_eager.accumulate(*fused, torch.float32, "cpu")[0]
    rel = TOL["compiled"]["vs_eager_rel"]
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=rel, atol=rel * float(eager.abs().max()))
    monkeypatch.setenv("NANOBRAG_COMPILE", "auto")
    assert compile_policy.package_ready(*fused, torch.float32, "cpu")
    plain = compile_policy.package_ready(pre.inputs, pre.flags, torch.float32, "cpu")
    assert not plain                               # the spots-only kind is another package


def test_package_of_the_kept_image_form(tmp_path, monkeypatch):
    """The compiled package adding a kept background (built here) renders what the eager
    form renders."""
    monkeypatch.setenv("NANOBRAG_CACHE", str(tmp_path))
    monkeypatch.setenv("NANOBRAG_COMPILE", "1")
    compile_policy._READY.clear()
    s, cfg = configure(BASE + WATER + AIR)
    pre = _precompute(cfg, None, None)
    background = render_components(pre, s.backgrounds, s.beamsize_m, torch.float32, "cpu")
    fused = kept_in_kernel(pre, background)
    assert compile_policy.package_ready(*fused, torch.float32, "cpu")
    compiled = torch_eager.accumulate(*fused, torch.float32, "cpu")[0]
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")
    eager = torch_eager.accumulate(*fused, torch.float32, "cpu")[0]
    rel = TOL["compiled"]["vs_eager_rel"]
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=rel, atol=rel * float(eager.abs().max()))
    assert float((eager - background).abs().max()) > 0.01 * float(background.max())   # spots there


def test_triton_refuses_the_kernel_form():
    from nanobrag_torch.backends import triton as triton_backend
    components._SEEN.clear()
    s, cfg = configure(BASE + WATER)
    pre = _precompute(cfg, None, None)
    with pytest.raises(ValueError, match="amorphous"):
        triton_backend.accumulate(*in_kernel(pre, s.backgrounds, s.beamsize_m), torch.float32, "cpu")
    background = render_components(pre, s.backgrounds, s.beamsize_m, torch.float32, "cpu")
    with pytest.raises(ValueError, match="amorphous"):
        triton_backend.accumulate(*kept_in_kernel(pre, background), torch.float32, "cpu")
