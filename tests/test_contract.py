"""The render contract: engines read `RenderInputs`/`RenderFlags` only, and render every
panel of a multi-panel detector in one call (eager kernels here; the compiled kernel in
tests/test_compiled_variants.py, Triton in tests/triton_interp/test_panels.py)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from nanobrag_torch.backends import torch_eager
from nanobrag_torch.contract import evolve
from panel_util import two_panels


def test_two_panels_render_as_two_one_panel_renders():
    one, other, both, flags = two_panels()
    I, om = torch_eager.accumulate(both, flags, torch.float64)
    I0, om0 = torch_eager.accumulate(one, flags, torch.float64)
    I1, om1 = torch_eager.accumulate(other, flags, torch.float64)
    assert I.shape == (2, 12, 12) and I0.shape == (1, 12, 12)
    assert torch.equal(I[0], I0[0]) and torch.equal(I[1], I1[0])
    assert not torch.equal(I0, I1) and om == pytest.approx(om0 + om1, rel=1e-12)


def test_inputs_convert_only_through_to():
    _, _, both, _ = two_panels(["-water", "50"])
    f32 = both.to(torch.float32, "cpu")
    assert f32.pix0.dtype == torch.float32 and f32.pix0.shape == (2, 3) and f32.steps == both.steps
    assert both.pix0.dtype == torch.float64 and both.panel(1).n_panels == 1
    assert torch.equal(both.panel(1).pix0, both.pix0[1:])


def test_evolve_is_dataclasses_replace():
    _, _, both, _ = two_panels(["-water", "50"])
    changes = {"pix0": both.pix0 * 2, "fpixels": both.fpixels + 1}
    new, ref = evolve(both, **changes), dataclasses.replace(both, **changes)
    for f in dataclasses.fields(both):
        a, b = getattr(new, f.name), getattr(ref, f.name)
        assert a is b or (isinstance(a, torch.Tensor) and torch.equal(a, b)) or a == b, f.name
    assert both.fpixels == new.fpixels - 1 and torch.equal(both.pix0 * 2, new.pix0)   # original kept
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.fpixels = 3
    with pytest.raises(TypeError, match="no field"):
        evolve(both, not_a_field=1)
