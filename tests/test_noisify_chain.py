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


def test_simulate_accepts_response_flags_and_respond_to_matches():
    from nanobrag_torch.noisify.chain import respond_to
    from nanobrag_torch.noisify.cli import header_bytes
    from nanobrag_torch.simulate import run
    case = MANIFEST["cases"][1]
    response = [RENAMED.get(a, a) for a in case["noisify_response"].split()]
    r = run([*case["nanoBragg"].split(), *response, "-response_noisefile", "unused.img"],
            dtype="float64")
    image = r.image.numpy().astype("float32")
    images, n = respond_to(r.settings, image, out=lambda *_: None)
    data = header_bytes(n, image.shape[1], image.shape[0]) + images.noise_image.tobytes()
    assert hashlib.sha256(data).hexdigest() == case["sha256"]["noise.img"]
