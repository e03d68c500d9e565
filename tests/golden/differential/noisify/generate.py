"""Regenerate manifest.json: small noisify.c cases found by differential fuzzing
(tests/test_noisify_differential.py). Each case: a numpy recipe for the float input (written
as ``f.bin``), optionally an SMV header file (``h.img``, text padded with spaces to 512 bytes
plus 64 zero bytes), the argument list; recorded: the C's exit code, its stdout lines holding
``photons``, ``seed`` or ``radius`` and the sha256 of every file it wrote. Needs the reference
binary (NOISIFY_C, default /work/cbin/noisify; run with OMP_NUM_THREADS=1).

    python tests/golden/differential/noisify/generate.py
"""
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

NOISIFY = os.environ.get("NOISIFY_C", "/work/cbin/noisify")
HERE = Path(__file__).parent

CASES = {
    # 3.4e38 photons x (1 + 0.03 gaussdev) overflows float32 to inf in pass 1; poidev(inf)
    # returns inf + sqrt(inf) * gaussdev = inf - inf = the x86 default NaN (sign bit set) for a
    # negative deviate, and glibc prints the photon sum as "-nan" (noisify.c 584-590, 610-637).
    "nan_sum_negative_sign": dict(
        recipe="np.full((3, 3), 3.4e38, '<f4')", header=None,
        args="-floatfile f.bin -detpixels 3 -seed 2 -nopgm"),
    "nan_sum_negative_sign_psf": dict(
        recipe="np.full((3, 3), 3.4e38, '<f4')", header=None,
        args="-floatfile f.bin -detpixels 3 -seed 2 -psf gauss -psf_fwhm 100 -psf_radius 1"),
    # GetFrame (noisify.c 1224) does strstr(header, "BYTE_ORDER=") + 11 and searches on from
    # there: without the key that is a NULL + 11 pointer, a segfault.
    "header_without_byte_order": dict(
        recipe="np.full((4, 4), 10.0, '<f4')",
        header="{\nHEADER_BYTES=512;\nDIM=2;\nSIZE1=4;\nSIZE2=4;\n}\f",
        args="-floatfile f.bin -header h.img -seed 1"),
    # every option whose text an argument contains fires (strstr, noisify.c 169-318)
    "strstr_option_texts": dict(
        recipe="np.random.default_rng(1).exponential(20.0, (24, 30)).astype('<f4')", header=None,
        args="-floatfile f.bin -detpixels_x 30 --seed 5 -calibration_noise 0.1 -flicker_noise 0.2 "
        "-adc_offset 10 -pixel_size 0.2 -readnoi 2 -psf gauss -psf_rad 3 -psf_fw 150"),
    # psf_radius = atof(...) into an int (noisify.c 227): 1e10 does not fit, x86 gives INT_MIN,
    # so the C neither prints the radius nor uses it: the automatic radius instead
    "psf_radius_beyond_int": dict(
        recipe="np.random.default_rng(2).exponential(30.0, (20, 24)).astype('<f4')", header=None,
        args="-floatfile f.bin -detpixels_x 24 -seed 3 -psf gauss -psf_radius 1e10"),
    # -seed, -detpixels and -bits are read with atoi (noisify.c 204, 254, 289): "1e3" is 1.
    "atoi_exponent_values": dict(
        recipe="np.full((30, 30), 20.0, '<f4')", header=None,
        args="-floatfile f.bin -detpixels 3e1 -seed 1e3 -nopgm -nonoise"),
}


def header_bytes(text: str) -> bytes:
    """An SMV header file: the text padded with spaces to 512 bytes, then 64 zero bytes."""
    return text.encode().ljust(512) + bytes(64)


def run_case(case: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        eval(case["recipe"], {"np": np}).tofile(Path(tmp) / "f.bin")
        if case["header"] is not None:
            (Path(tmp) / "h.img").write_bytes(header_bytes(case["header"]))
        before = set(os.listdir(tmp))
        proc = subprocess.run([NOISIFY] + case["args"].split(), cwd=tmp, capture_output=True,
                              text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        files = {name: hashlib.sha256((Path(tmp) / name).read_bytes()).hexdigest()
                 for name in sorted(set(os.listdir(tmp)) - before)}
    lines = [line for line in proc.stdout.splitlines()
             if "photons" in line or "seed" in line or "radius" in line]
    return dict(case, rc=proc.returncode, stdout_lines=lines, output_files=files)


def main() -> None:
    manifest = {"reference": NOISIFY, "cases": {name: run_case(case) for name, case in CASES.items()}}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
