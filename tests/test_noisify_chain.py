"""One command from crystal to detector image: ``nanoBragg ... -response_*`` equals
nanoBragg.c's float image fed to noisify.c, byte for byte (tests/golden/noisify_chain, made by
its generate.py with the reference binaries)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cli_util import run_cli

MANIFEST = json.loads((Path(__file__).parent / "golden" / "noisify_chain" / "manifest.json").read_text())
# noisify.c flag -> the nanoBragg command line's name for it (flags_response.py)
RENAMED = {"-seed": "-response_seed", "-adc": "-response_adc", "-scale": "-response_scale"}


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=[c["name"] for c in MANIFEST["cases"]])
def test_one_command_equals_c_chain(case, tmp_path):
    response = [RENAMED.get(a, a) for a in case["noisify_response"].split()]
    args = [*case["nanoBragg"].split(), "-dtype", "float64", "-floatfile", "floatimage.bin",
            "-nonoise", "-nopgm", "-intfile", "nb.img", "-noprogress", *response,
            "-response_intfile", "int.img", "-response_noisefile", "noise.img",
            "-response_pgmfile", "image.pgm"]
    assert run_cli(args, tmp_path)[0] == 0

    def sha(name):
        return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert sha("floatimage.bin") == case["floatimage_sha256"]
    for name, digest in case["sha256"].items():
        assert sha(name) == digest, name
