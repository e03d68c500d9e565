"""noisify against small noisify.c cases found by differential fuzzing
(tests/golden/differential/noisify, re-created by its generate.py): where the C runs, every
file it wrote byte for byte and its printed photon/seed/radius lines; where it crashes or reads a
value other than the one typed, exit 9 with one error line and no file."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from cli_util import run_cli

from nanobrag_torch.flag_kinds import _int
from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.noisify.cli import main

HERE = Path(__file__).parent / "golden" / "differential" / "noisify"
CASES = json.loads((HERE / "manifest.json").read_text())["cases"]


def _run(case: dict, directory: Path) -> tuple:
    eval(case["recipe"], {"np": np}).tofile(directory / "f.bin")
    if case["header"] is not None:
        (directory / "h.img").write_bytes(case["header"].encode().ljust(512) + bytes(64))
    before = set(os.listdir(directory))
    rc, out, err, _ = run_cli(case["args"].split(), directory, program=main)
    written = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
               for name in set(os.listdir(directory)) - before}
    return rc, out, err, written


REFUSED = {"header_without_byte_order": None, "atoi_exponent_values": "  seed: -1",
           "psf_radius_beyond_int": "  auto-selected psf_radius = 2 pixels"}


@pytest.mark.parametrize("name", [n for n in CASES if n not in REFUSED])
def test_c_runs_same_files_and_lines(name, tmp_path):
    """The negative NaN of inf - inf is printed "-nan" in the photon sums, as glibc does."""
    case = CASES[name]
    rc, out, _, written = _run(case, tmp_path)
    assert rc == 0
    assert written == case["output_files"]
    ours = [line for line in out.splitlines()
            if "photons" in line or "seed" in line or "radius" in line]
    assert ours == case["stdout_lines"]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_where_the_c_crashes_or_misreads(name, tmp_path):
    """The C crashed, or its output shows it read another value (1e3 as 1, a radius of 1e10
    as INT_MIN: automatic)."""
    case = CASES[name]
    assert case["rc"] != 0 if REFUSED[name] is None else REFUSED[name] in case["stdout_lines"]
    rc, _, err, written = _run(case, tmp_path)
    assert rc == 9 and not written and err.count("\n") == 1


def test_int_values_must_read_the_same_with_atoi():
    assert [_int("-seed", t) for t in ("12", "-0", "5.0", "1e0", " +7")] == [12, 0, 5, 1, 7]
    for text in ("1e3", "5_000", "2.5e1"):
        with pytest.raises(NanoBraggError, match="atoi"):
            _int("-seed", text)
