"""The vectorization-gap audit passes on the current engine and fails when a per-source
Python loop or a host synchronisation (.item()) is injected into the fused kernel."""
from __future__ import annotations

import dataclasses

import pytest

from nanobrag_torch.backends import torch_kernel
from profiling.audit import audit

ORIGINAL = torch_kernel.fused_chunk


def per_source_loop(si, fi, k):
    """The same result computed with a Python loop over sources (the gap to catch)."""
    total, omega = 0.0, None
    for i in range(k.incident.shape[1]):
        ki = dataclasses.replace(k, incident=k.incident[:, i:i + 1], inv_lambda=k.inv_lambda[i:i + 1],
                                 source_factor=k.source_factor[i:i + 1])
        I, omega = ORIGINAL(si, fi, ki)
        total = total + I
    return total, omega


def with_item(si, fi, k):
    if float(k.A.sum()) != float(k.A.sum()):      # a host synchronisation per chunk
        raise AssertionError
    return ORIGINAL(si, fi, k)


def gaps(path) -> str:
    text = path.read_text()
    return text[text.index("## Gaps found"):text.index("## All measurements")]


def test_audit_passes(tmp_path):
    assert audit(str(tmp_path), quick=True) == 0
    assert "Gaps found: 0" in (tmp_path / "audit.md").read_text()


@pytest.mark.parametrize("injected, metric", [(per_source_loop, "Python calls per chunk"),
                                               (with_item, "host syncs per chunk")])
def test_audit_catches_injected_gap(tmp_path, monkeypatch, injected, metric):
    monkeypatch.setattr(torch_kernel, "fused_chunk", injected)
    assert audit(str(tmp_path), quick=True) == 1
    assert metric in gaps(tmp_path / "audit.md")
