"""The Triton launcher renders every panel of a multi-panel contract (interpreter)."""
from __future__ import annotations

import torch

from nanobrag_torch.backends import torch_eager
from nanobrag_torch.backends import triton as triton_backend
from panel_util import two_panels


def test_two_panels_match_one_panel_renders_and_eager():
    one, other, both, flags = two_panels(["-phi", "0", "-osc", "2", "-phisteps", "2"])
    assert flags.first_visit                     # the carry-over happens on panel 0 only
    I, _ = triton_backend.accumulate(both, flags, torch.float64)
    I0, _ = triton_backend.accumulate(one, flags, torch.float64)
    ref, _ = torch_eager.accumulate(both, flags, torch.float64)
    assert I.shape == (2, 12, 12) and torch.equal(I[0], I0[0])
    assert torch.allclose(I, ref, rtol=1e-9, atol=0)
    assert not torch.allclose(I[0], I[1])
