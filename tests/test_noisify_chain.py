"""One command from crystal to detector image: ``nanoBragg ... [-bg_stol ...] -response_*``
equals the C chain byte for byte: nanoBragg.c's float image, plus nonBragg.c's background float
images summed by float_add, fed to noisify.c (tests/golden/noisify_chain, made by its
generate.py with the reference binaries; mapping in specs/cli.md, "Detector response")."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cli_util import run_cli

from golden_util import GOLDEN, TOL

MANIFEST = json.loads((GOLDEN / "noisify_chain" / "manifest.json").read_text())
INPUTS = GOLDEN / "nonbragg" / "inputs"     # tables and P1_pipe.hkl of the background cases
# noisify.c flag -> the nanoBragg command line's name for it (flags_response.py)
RENAMED = {"-seed": "-response_seed", "-adc": "-response_adc", "-scale": "-response_scale"}


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=[c["name"] for c in MANIFEST["cases"]])
def test_one_command_equals_c_chain(case, tmp_path):
    (tmp_path / "inputs").symlink_to(INPUTS)
    response = [RENAMED.get(a, a) for a in case["noisify_response"].split()]
    args = [*case["nanoBragg"].split(), *case["background"].split(), "-dtype", "float64",
            "-floatfile", "floatimage.bin",
            "-nonoise", "-nopgm", "-intfile", "nb.img", "-noprogress", *response,
            "-response_intfile", "int.img", "-response_noisefile", "noise.img",
            "-response_pgmfile", "image.pgm"]
    assert run_cli(args, tmp_path)[0] == 0

    def sha(name):
        return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert sha("floatimage.bin") == case["floatimage_sha256"]
    for name, digest in case["sha256"].items():
        assert sha(name) == digest, name


def test_background_sum_c_float_add_fixed_double(monkeypatch):
    """Quirk N13: `c` adds the spots and each background as the C chain's float32 files
    (float_add: the double sum of two floats rounded to float32, backgrounds first); `fixed`
    adds in float64. Both against numpy sums of the separate renders (nanoBragg spots,
    nonBragg.c-style backgrounds from `nonbragg.api.run`)."""
    import numpy as np

    from nanobrag_torch.nonbragg.api import run as nonbragg_run
    from nanobrag_torch.simulate import run
    monkeypatch.chdir(INPUTS.parent)
    case = next(c for c in MANIFEST["cases"] if c["name"] == "water_air_two_backgrounds_pgm")
    images = {}
    for quirks in ("c", "fixed"):
        q = ["-quirks", quirks]
        spots = run(case["nanoBragg"].split() + q, dtype="float64").image.numpy()
        water, air = (nonbragg_run(a.split() + q, dtype="float64").image.numpy() for a in case["nonBragg"])
        one = run(case["nanoBragg"].split() + case["background"].split() + q, dtype="float64").image.numpy()
        images[quirks] = one
        if quirks == "c":
            f32 = [x.astype(np.float32) for x in (spots, water, air)]
            assert one.tobytes() == (f32[0] + (f32[1] + f32[2])).astype(np.float64).tobytes()
        else:
            np.testing.assert_allclose(one, spots + (water + air), rtol=TOL["quirks"]["independent_rel"])
    assert (images["c"] != images["fixed"]).any()


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


def test_multipanel_render_refuses_response_flags(tmp_path):
    examples = Path(__file__).parents[1] / "examples" / "detectors"
    status, _, err, _ = run_cli(["-detector", str(examples / "two_by_two.expt"), "-cell", "100", "100",
                                 "100", "90", "90", "90", "-default_F", "100", "-N", "5",
                                 "-floatfile", "f.bin", "-response_noisefile", "noise.img"], tmp_path)
    assert status != 0 and err.count("\n") == 1
    assert "-response_noisefile: not with -detector" in err and "detector_response" in err
    assert list(tmp_path.iterdir()) == []


def test_numba_cache_stamp_follows_crandom(tmp_path):
    """noise.py and noisify/ inline crandom.py's compiled functions: their disk-cache stamp
    must change when crandom.py changes (numba alone keys a function by its own file)."""
    import shutil

    from nanobrag_torch import lazy_numba
    package = Path(lazy_numba.__file__).parent
    copy = tmp_path / "pkg"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = lazy_numba._package_stamp(str(copy))
    assert before == lazy_numba._package_stamp(str(package))
    with open(copy / "crandom.py", "a") as f:
        f.write("# edited\n")
    lazy_numba._package_stamp.cache_clear()
    assert lazy_numba._package_stamp(str(copy)) != before
    (copy / "crandom.py").write_bytes((package / "crandom.py").read_bytes())
    (copy / "summary.py").write_text("# a module without compiled functions\n")
    lazy_numba._package_stamp.cache_clear()
    assert lazy_numba._package_stamp(str(copy)) == before
    from numba.core.caching import CompileResultCacheImpl

    from nanobrag_torch import noise
    lazy_numba._install_cache_locators()
    fn = getattr(noise._noise_block, "py_func", None) or noise._noise_block.fn
    assert CompileResultCacheImpl(fn)._locator.get_source_stamp()[1] == lazy_numba._package_stamp()
