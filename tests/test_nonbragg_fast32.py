"""nonBragg float32 compiled path (nonbragg/fast32.py) against the float64 render and the
table model: [nonbragg] fast32_rel of max per image, the cell-grid window equal to the sorted
lookup, every component of a spots render equal to its own float64 render."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from golden_util import GOLDEN, TOL
from nanobrag_torch.nonbragg import engine, fast32, nodes
from nanobrag_torch.nonbragg import table as table_module
from nanobrag_torch.nonbragg.api import run
from nanobrag_torch.nonbragg.table import build_table, evaluate, lookup_sorted

NB = GOLDEN / "nonbragg"
CASES = {c["name"]: c for c in json.loads((NB / "manifest.json").read_text())["cases"]}
REL = TOL["nonbragg"]["fast32_rel"]


@pytest.fixture
def fast32_calls(monkeypatch):
    """Records whether each float32 render went through fast32."""
    calls = []
    original = engine._render_fast32

    def spy(*args):
        out = original(*args)
        calls.append(out is not None)
        return out
    monkeypatch.setattr(engine, "_render_fast32", spy)
    return calls


@pytest.mark.parametrize("name", ["water_defaults", "polar_kahn_vector_detsize", "nopolar_point_pixel_wave",
                                  "divergence_square", "oversample_roi", "sourcefile_weighted"])
def test_float32_against_float64(name, monkeypatch, fast32_calls):
    """The kernel's own accuracy: ice.stol (the divergence, oversample and source-file cases)
    is computed in float64 by the command line (test_steep_table_float32_computes_in_float64)
    but in float32 by the components of a spots render, so its limit is lifted here."""
    monkeypatch.setattr(table_module, "FLOAT32_SENSITIVITY", float("inf"))
    monkeypatch.chdir(NB)
    args = CASES[name]["args"]
    ours = run(args).image.numpy().astype(np.float64)
    assert fast32_calls == [True]
    ref = run(args, dtype="float64").image.numpy()
    assert np.abs(ours - ref).max() <= REL * np.abs(ref).max()
    assert abs(ours.sum() / ref.sum() - 1) <= TOL["parity"]["float32"]["max_abs_sum_ratio_error"]


@pytest.mark.parametrize("rows", ["uniform", "uneven"])
def test_cell_window_is_the_sorted_lookup(rows):
    """F at stol below, inside and beyond a sorted table: the kernel's table loop against the
    float64 window cubic of `lookup_sorted` (independent of the cell grid)."""
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 0.5, 60) if rows == "uniform" else np.sort(rng.uniform(0.0, 0.5, 60))
    table = build_table(x, rng.uniform(-20, 20, x.size), "stol", "c")
    lo, inv_h, rec = fast32.cell_records(table.x, table.coef, table.origin)
    stol = np.concatenate([rng.uniform(0.0, 0.7, 4000), x]).astype(np.float32)
    acc = np.full(stol.size, np.nan)             # the first term is stored, not added
    fast32._table(stol, np.ones_like(stol), np.float32(lo), np.float32(inv_h),
                  np.float32(rec.shape[0] - 1), rec.reshape(-1), acc, True)
    s64 = torch.from_numpy(stol.astype(np.float64))
    x64 = torch.from_numpy(table.x)
    F = evaluate(torch.from_numpy(table.coef), torch.from_numpy(table.origin), lookup_sorted(x64, s64), s64).numpy()
    expect = F * np.abs(F)
    assert np.abs(acc - expect).max() <= REL * np.abs(expect).max()


def test_no_cell_grid_for_repeated_or_crowded_rows():
    """Rows the cell grid cannot hold go to the float64 kernel (None here)."""
    repeated = build_table(np.array([0.0, 0.1, 0.1, 0.3]), np.ones(4), "stol", "c")
    assert fast32.cell_records(repeated.x, repeated.coef, repeated.origin) is None
    x = np.concatenate([[0.0, 1e-9], np.linspace(0.1, 0.5, 5)])
    crowded = build_table(x, np.ones(x.size), "stol", "c")
    assert fast32.cell_records(crowded.x, crowded.coef, crowded.origin) is None


def test_components_in_one_pass(fast32_calls):
    """Water + air added to a small spots render (one fast32 pass for both): each component
    equal to its own float64 image within fast32_rel."""
    from nanobrag_torch.nonbragg.components import render_components
    from nanobrag_torch.simulate import run as nb_run
    args = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 96 "
            "-pixel 0.4 -bg_stol water -bg_thick 0.1 -bg_stol air -bg_thick 10 -bg_density 0.0012 "
            "-bg_MW 28.96").split()
    res = nb_run(args)
    assert fast32_calls == [True]
    s, pre = res.settings, res.pre
    for c in s.backgrounds:
        one = render_components(pre, [c], s.beamsize_m, torch.float32, "cpu").numpy().astype(np.float64)
        ref = render_components(pre, [c], s.beamsize_m, torch.float64, "cpu").numpy()
        assert np.abs(one - ref).max() <= REL * np.abs(ref).max()


@pytest.mark.parametrize("name", ["water", "air"])
def test_node_spacing_meets_its_bound(name):
    """Linear interpolation between the chosen nodes against the table's window cubics
    (`lookup_sorted` + `evaluate`, float64) at random stol: within LINEAR_REL of max."""
    from nanobrag_torch.nonbragg.components import load_table
    t = load_table(name, "stol", "c")
    table = {"x": torch.from_numpy(t.x), "coef": torch.from_numpy(t.coef), "origin": torch.from_numpy(t.origin),
             "digest": t.digest}
    inv_h, values = nodes.linear_nodes([table], [1.0], 0.5)
    stol = np.random.default_rng(5).uniform(0.0, 0.5, 20000)
    c = stol * inv_h
    i = np.floor(c).astype(int)
    pairs = values.astype(np.float64).reshape(-1, 2)
    approx = pairs[i, 0] + (c - i) * pairs[i, 1]
    s64 = torch.from_numpy(stol)
    F = evaluate(table["coef"], table["origin"], lookup_sorted(table["x"], s64), s64).numpy()
    exact = F * np.abs(F)
    assert np.abs(approx - exact).max() <= 2 * nodes.LINEAR_REL * np.abs(exact).max()


def test_sharp_table_has_no_node_spacing():
    """ice.stol's rings would need more than MAX_NODES nodes: the exact cell path serves it."""
    from nanobrag_torch.nonbragg.components import load_table
    t = load_table("ice", "stol", "c")
    table = {"x": torch.from_numpy(t.x), "coef": torch.from_numpy(t.coef), "origin": torch.from_numpy(t.origin),
             "digest": t.digest}
    assert nodes.node_spacing(table, 2.0) is None


def test_components_summed_in_one_pass(monkeypatch):
    """A cold render of water + air goes through `engine.render_sum` (one interpolated sum)
    and equals the float64 sum of the components within fast32_rel."""
    from nanobrag_torch.nonbragg import components
    from nanobrag_torch.simulate import run as nb_run
    sums = []
    original = engine.render_sum
    monkeypatch.setattr(engine, "render_sum", lambda *a, **k: sums.append(original(*a, **k)) or sums[-1])
    args = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1.5 -distance 80 -detpixels 64 "
            "-pixel 0.5 -polar 0.9 -bg_stol water -bg_thick 0.1 -bg_stol air -bg_thick 10 -bg_density 0.0012 "
            "-bg_MW 28.96").split()
    res = nb_run(args)
    s, pre = res.settings, res.pre
    components._IMAGES.clear()
    ours = components.render_components(pre, s.backgrounds, s.beamsize_m, torch.float32, "cpu").numpy()
    assert sums and sums[-1] is not None
    ref = components.render_components(pre, s.backgrounds, s.beamsize_m, torch.float64, "cpu").numpy()
    assert np.abs(ours.astype(np.float64) - ref).max() <= REL * np.abs(ref).max()
