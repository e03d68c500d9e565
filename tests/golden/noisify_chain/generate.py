"""Regenerate manifest.json: nanoBragg.c's -floatfile fed to noisify.c, for the one-command
render test (tests/test_noisify_chain.py). Needs the reference binaries (NANOBRAGG_C,
NOISIFY_C, default /work/cbin/...); records the sha256 of every file noisify.c writes.

    python tests/golden/noisify_chain/generate.py
"""
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

NANOBRAGG = os.environ.get("NANOBRAGG_C", "/work/cbin/nanoBragg")
NOISIFY = os.environ.get("NOISIFY_C", "/work/cbin/noisify")
HERE = Path(__file__).parent

# name: (nanoBragg args, noisify args for the same geometry, noisify response flags)
CASES = {
    "spots_default_noise": (
        "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 64",
        "-detpixels_x 64 -detpixels_y 64 -pixel 0.1 -distance 100 -lambda 1 -phi 0",
        "-seed 7"),
    "spots_flicker_readout_gauss_psf": (
        "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 64",
        "-detpixels_x 64 -detpixels_y 64 -pixel 0.1 -distance 100 -lambda 1 -phi 0",
        "-seed 11 -readout 3 -flicker 0.02 -psf gauss -psf_fwhm 120"),
    "rect_fiber_psf_bits32_gain": (
        "-cell 70 80 90 90 90 90 -default_F 300 -N 4 -lambda 1.2 -distance 90 -detpixels_x 72 "
        "-detpixels_y 56 -pixel 0.12 -Xbeam 4.5 -Ybeam 3.1 -phi 3 -osc 0.5 -nopolar",
        "-detpixels_x 72 -detpixels_y 56 -pixel 0.12 -distance 90 -lambda 1.2 -Xbeam 4.5 "
        "-Ybeam 3.1 -phi 3 -osc 0.5",
        "-seed 5 -calib_seed 9 -psf fiber -psf_fwhm 150 -bits 32 -gain 2.5 -adc 10"),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    manifest = {"reference": [NANOBRAGG, NOISIFY], "cases": []}
    for name, (nb, geometry, response) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            run = {"cwd": tmp, "check": True, "capture_output": True,
                   "env": {**os.environ, "OMP_NUM_THREADS": "1"}}
            subprocess.run([NANOBRAGG, *nb.split(), "-floatfile", "floatimage.bin", "-nonoise",
                            "-nopgm", "-intfile", "nb.img", "-noprogress"], **run)
            subprocess.run([NOISIFY, "-floatfile", "floatimage.bin", *geometry.split(),
                            *response.split(), "-intfile", "int.img", "-noisefile", "noise.img",
                            "-pgmfile", "image.pgm"], **run)
            files = {f: sha(Path(tmp) / f) for f in ("int.img", "noise.img", "image.pgm")}
            manifest["cases"].append({"name": name, "nanoBragg": nb, "noisify_geometry": geometry,
                                      "noisify_response": response, "sha256": files,
                                      "floatimage_sha256": sha(Path(tmp) / "floatimage.bin")})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
