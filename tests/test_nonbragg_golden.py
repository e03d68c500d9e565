"""nonBragg golden suite: every public case through `python -m nanobrag_torch.nonbragg`'s main.

float64 (-dtype float64): float image within [parity.float64] and [nonbragg] pixel_rel, and the
SMV int image, the PGM pixels, the seeded noise image and the -stolout table identical to the
C's (stolout to [nonbragg] stolout_rel); SMV header keys equal; the printed output equal to
the C's log line for line (banner aside). float32 (default): [parity.float32].
"""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from golden_util import GOLDEN, TOL, parity, passes
from nanobrag_torch.nonbragg.api import run
from nanobrag_torch.nonbragg.cli import main

NB = GOLDEN / "nonbragg"
MANIFEST = json.loads((NB / "manifest.json").read_text())
CASES = {c["name"]: c for c in MANIFEST["cases"]}


def _smv(path):
    raw = path.read_bytes()
    head = raw[:512].split(b"}")[0].decode()
    fields = dict(line.rstrip(";").split("=", 1) for line in head.splitlines() if "=" in line)
    return fields, raw


def _printed(lines: list) -> list:
    return [re.sub(r"0x[0-9a-f]+|<address removed>", "<address>", line) for line in lines
            if not line.startswith("nonBragg ")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("nonbragg")
    shutil.copytree(NB / "inputs", d / "inputs")
    return d


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_float64_files(name, workdir, monkeypatch, capsys):
    case = CASES[name]
    monkeypatch.chdir(workdir)
    assert main(case["args"] + ["-dtype", "float64"]) == 0
    ref = np.load(NB / case["file"])
    shape = tuple(case["shape_slow_fast"])
    image = np.fromfile(workdir / "floatimage.bin", dtype="<f4").reshape(shape)
    corr, ratio, worst = parity(image, ref["floatimage"])
    assert passes(corr, ratio, "float64"), (corr, ratio)
    assert worst <= TOL["nonbragg"]["pixel_rel"], worst
    fields, raw = _smv(workdir / "intimage.img")
    ints = np.frombuffer(raw[512:], dtype="<u2").reshape(shape)
    np.testing.assert_array_equal(ints, ref["intimage"])
    assert fields == case["intfile_header"]
    pgm = (workdir / "image.pgm").read_bytes()
    assert pgm.startswith(b"P5\n%d %d\n" % (shape[1], shape[0]))
    np.testing.assert_array_equal(np.frombuffer(pgm[-image.size:], np.uint8).reshape(shape), ref["pgm"])
    assert pgm.split(b"\n")[2].decode() == case["pgm_header_comment"]
    if "noiseimage" in ref.files:
        _, raw = _smv(workdir / "noiseimage.img")
        np.testing.assert_array_equal(np.frombuffer(raw[512:], "<u2").reshape(shape), ref["noiseimage"])
    if "stolout" in ref.files:
        ours = np.loadtxt(workdir / case["args"][case["args"].index("-stolout") + 1])
        cols = [0, 1, 2, 5]
        np.testing.assert_allclose(ours[:, cols], ref["stolout"][:, cols], rtol=TOL["nonbragg"]["stolout_rel"])
    out = capsys.readouterr().out
    printed = case["c_printed"]
    assert f"({printed['pixels_fast_slow'][0]}x{printed['pixels_fast_slow'][1]} pixels)" in out
    assert f"pgm_scale = {printed['pgm_scale']}" in out
    # the whole stdout as the C's log, line for line (the banner is ours, heap addresses blanked)
    log = (NB / "logs" / f"{name}.stdout.txt").read_text().splitlines()[1:]    # line 1: the command
    assert _printed(out.splitlines()) == _printed(log)


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_float32(name, monkeypatch):
    case = CASES[name]
    monkeypatch.chdir(NB)
    image = run(case["args"]).image.numpy()
    corr, ratio, _ = parity(image, np.load(NB / case["file"])["floatimage"])
    assert passes(corr, ratio, "float32"), (corr, ratio)
