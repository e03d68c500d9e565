"""nonBragg against nonBragg.c on command lines found by differential fuzzing
(tests/golden/differential/nonbragg: manifest.json from generate.py and the reference binary).

Per case (float64): the SMV int header equal, the int, PGM and noise pixels identical, the
-stolout lines within [nonbragg] stolout_rel (columns stol, mean, rmsd, n; the count of lines
exact), and the printed output line for line, exactly (the banner is ours; the -img reader's
heap address before it is blanked).
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil

import numpy as np
import pytest

from golden_util import GOLDEN, TOL
from nanobrag_torch.nonbragg.cli import main

HERE = GOLDEN / "differential" / "nonbragg"
CASES = json.loads((HERE / "manifest.json").read_text())["cases"]


def _smv(path):
    raw = path.read_bytes()
    head = raw[:512].split(b"}")[0].decode()
    return dict(line.rstrip(";").split("=", 1) for line in head.splitlines() if "=" in line), raw[512:]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_against_c(name, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    shutil.copytree(HERE / "inputs", tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    assert main(case["args"] + ["-dtype", "float64"]) == 0
    header, ints = _smv(tmp_path / "intimage.img")
    assert header == case["intfile_header"]
    assert _sha(ints) == case["int_sha256"]
    pixels = int(header["SIZE1"]) * int(header["SIZE2"])
    assert _sha((tmp_path / "image.pgm").read_bytes().split(b"\n", 4)[4][:pixels]) == case["pgm_sha256"]
    if "noise_sha256" in case:
        assert _sha(_smv(tmp_path / "noise.img")[1]) == case["noise_sha256"]
    if "stolout_lines" in case:
        ours = (tmp_path / "so.txt").read_text().splitlines()
        assert len(ours) == len(case["stolout_lines"])
        if ours:
            got, want = (np.array([[float(v) for v in line.split()] for line in rows])
                         for rows in (ours, case["stolout_lines"]))
            cols = [0, 1, 2, 5]
            np.testing.assert_allclose(got[:, cols], want[:, cols], rtol=TOL["nonbragg"]["stolout_rel"])
    printed = capsys.readouterr().out.splitlines()
    banner = next(i for i, line in enumerate(printed) if line.startswith("nonBragg "))
    assert [re.sub(r"0x[0-9a-f]+", "<address>", line) for line in printed[:banner]] == case["before_banner"]
    printed = printed[banner + 1:]
    assert len(printed) == len(case["stdout"]), "\n".join(printed)
    assert printed == case["stdout"]
