"""The cell lines of the run summary (``Unit Cell``, ``Recp Cell``, ``volume``) equal what
nanoBragg.c printed for every golden case that has its log (`models.crystal._cell_parameters`
computes them in Python floats, as the C does in double)."""
from __future__ import annotations

import types

import pytest

from golden_util import GOLDEN, cases, in_golden_dir
from nanobrag_torch.precompute import precompute
from nanobrag_torch.simulate import configure
from nanobrag_torch.summary import header_lines

KEYS = ("Unit Cell:", "Recp Cell:", "volume =")
LOGGED = [c for c in cases() if (GOLDEN / "logs" / f"{c['name']}.stdout.txt").exists()]


def _cell_lines(lines) -> list:
    return [line.strip() for line in lines if line.strip().startswith(KEYS)]


@pytest.mark.parametrize("case", LOGGED, ids=[c["name"] for c in LOGGED])
def test_cell_lines_match_the_c(case):
    c_lines = _cell_lines((GOLDEN / "logs" / f"{case['name']}.stdout.txt").read_text().splitlines())
    assert len(c_lines) == 3
    with in_golden_dir():
        _, cfg = configure(case["physics_args"])
        pre = precompute(cfg)
    ours = _cell_lines(header_lines(types.SimpleNamespace(pre=pre, config=cfg, backend="torch")))
    assert ours == c_lines
