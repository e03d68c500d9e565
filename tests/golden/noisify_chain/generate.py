"""Regenerate manifest.json: the C chain of the one-command render test
(tests/test_noisify_chain.py). nanoBragg.c writes the spots' -floatfile, nonBragg.c each
amorphous background's, float_add sums the float files, noisify.c turns the sum into detector
images. Needs the reference binaries (NANOBRAGG_C, NONBRAGG_C, NOISIFY_C, default
/work/cbin/...; run with OMP_NUM_THREADS=1) and the nonBragg golden inputs
(tests/golden/nonbragg/inputs); records the sha256 of every file noisify.c writes and of the
summed float image.

float_add (upstream bin_stuff/float_add.c, no binary here) with its defaults computes
``outfloat = (float)(1.0*((double)a - 0) + 1.0*((double)b - 0))`` per pixel: `float_add` below,
checked against the golden pipelines' C sums (tests/golden/nonbragg) before anything is written.

    python tests/golden/noisify_chain/generate.py
"""
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

NANOBRAGG = os.environ.get("NANOBRAGG_C", "/work/cbin/nanoBragg")
NONBRAGG = os.environ.get("NONBRAGG_C", "/work/cbin/nonBragg")
NOISIFY = os.environ.get("NOISIFY_C", "/work/cbin/noisify")
HERE = Path(__file__).parent
GOLDEN_NONBRAGG = HERE.parent / "nonbragg"

# name: nanoBragg.c args; nonBragg.c args of each background (summed in this order, then added
# to the spots); our one-command flags for the same backgrounds (the render is nanoBragg.c's
# args followed by these; -beamsize is shared); noisify.c geometry (nanoBragg's values as
# typed) and response flags (noisify.c's names). The background cases are the golden
# pipelines (tests/golden/nonbragg/manifest.json "pipelines") on smaller detectors, with the
# beam centre moved to keep its place: nanoBragg -mosflm -Xbeam X -Ybeam Y == nonBragg
# -Xbeam Y+pixel/2 -Ybeam X+pixel/2.
CASES = {
    "spots_default_noise": dict(
        nanoBragg="-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 64",
        geometry="-detpixels_x 64 -detpixels_y 64 -pixel 0.1 -distance 100 -lambda 1 -phi 0",
        response="-seed 7"),
    "spots_flicker_readout_gauss_psf": dict(
        nanoBragg="-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 64",
        geometry="-detpixels_x 64 -detpixels_y 64 -pixel 0.1 -distance 100 -lambda 1 -phi 0",
        response="-seed 11 -readout 3 -flicker 0.02 -psf gauss -psf_fwhm 120"),
    "rect_fiber_psf_bits32_gain": dict(
        nanoBragg="-cell 70 80 90 90 90 90 -default_F 300 -N 4 -lambda 1.2 -distance 90 -detpixels_x 72 "
        "-detpixels_y 56 -pixel 0.12 -Xbeam 4.5 -Ybeam 3.1 -phi 3 -osc 0.5 -nopolar",
        geometry="-detpixels_x 72 -detpixels_y 56 -pixel 0.12 -distance 90 -lambda 1.2 -Xbeam 4.5 "
        "-Ybeam 3.1 -phi 3 -osc 0.5",
        response="-seed 5 -calib_seed 9 -psf fiber -psf_fwhm 150 -bits 32 -gain 2.5 -adc 10"),
    # pipeline_water_hkl at 96 x 96
    "water_hkl_readout_gauss_psf": dict(
        nanoBragg="-hkl inputs/P1_pipe.hkl -cell 34 40 46 90 90 90 -misset 10 20 30 -N 20 -lambda 1.0 "
        "-distance 100 -detpixels 96 -pixel 0.1 -mosflm -Xbeam 4.75 -Ybeam 4.75 -oversample 2 "
        "-fluence 1e+26 -beamsize 0.001",
        nonBragg=["-stol inputs/water.stol -lambda 1.0 -distance 100 -detpixels 96 -pixel 0.1 "
                  "-Xbeam 4.8 -Ybeam 4.8 -thickness 0.0001 -beamsize 0.001 -fluence 1e+26"],
        background="-bg_stol inputs/water.stol -bg_thick 0.0001",
        geometry="-detpixels_x 96 -detpixels_y 96 -pixel 0.1 -distance 100 -lambda 1.0 -Xbeam 4.75 "
        "-Ybeam 4.75 -phi 0",
        response="-seed 21 -readout 2 -psf gauss -psf_fwhm 100"),
    # pipeline_air_default_F_rect at 96 fast x 72 slow, beam off centre as there
    "air_rect_phi_fiber_bits32_flicker": dict(
        nanoBragg="-default_F 200 -cell 60 60 90 90 90 120 -misset -15 35 5 -N 15 -lambda 1.5 "
        "-distance 120 -detpixels_x 96 -detpixels_y 72 -pixel 0.1 -mosflm -Xbeam 3.5 -Ybeam 5.0 "
        "-oversample 2 -phi 0 -osc 1 -phisteps 5 -fluence 1e+26 -beamsize 0.001",
        nonBragg=["-stol inputs/air.stol -lambda 1.5 -distance 120 -detpixels_x 96 -detpixels_y 72 "
                  "-pixel 0.1 -Xbeam 5.05 -Ybeam 3.55 -thickness 0.01 -density 0.0012 -MW 28.96 "
                  "-beamsize 0.001 -fluence 1e+26 -oversample 2"],
        background="-bg_stol inputs/air.stol -bg_thick 0.01 -bg_density 0.0012 "
        "-bg_MW 28.96 -bg_oversample 2",
        geometry="-detpixels_x 96 -detpixels_y 72 -pixel 0.1 -distance 120 -lambda 1.5 -Xbeam 3.5 "
        "-Ybeam 5.0 -phi 0 -osc 1",
        response="-seed 3 -calib_seed 9 -flicker 0.05 -psf fiber -psf_fwhm 150 -bits 32 -gain 2.5 "
        "-adc 10"),
    # pipeline_water_div_disp with ice at 96 x 96 (rings need a closer detector, 30 mm; upstream
    # ice.stol interpolates to +-1e8 photons at 50 nm, so 2.5e-10 mm: rings of +-2000 photons,
    # negative pixels included; -scale 60 saturates 16 bits). Divergence only: with the
    # pipeline's -dispersion too, one faint pixel of nanoBragg.c's spots (2.6e-5 photons, our
    # float64 value 5e-13 relative from a float32 rounding midpoint) rounds the other way.
    "ice_div_calibration_saturating": dict(
        nanoBragg="-hkl inputs/P1_pipe.hkl -cell 50 55 65 90 100 90 -misset 5 -12 40 -N 20 -lambda 0.9 "
        "-distance 30 -detpixels 96 -pixel 0.172 -mosflm -Xbeam 8.0 -Ybeam 8.5 -divergence 1.0 "
        "-divsteps 3 -oversample 1 -fluence 1e+26 -beamsize 0.001",
        nonBragg=["-stol inputs/ice.stol -lambda 0.9 -distance 30 -detpixels 96 -pixel 0.172 "
                  "-Xbeam 8.586 -Ybeam 8.086 -divergence 1.0 -divsteps 3 "
                  "-thickness 2.5e-10 -beamsize 0.001 -fluence 1e+26"],
        background="-bg_stol inputs/ice.stol -bg_thick 2.5e-10",
        geometry="-detpixels_x 96 -detpixels_y 96 -pixel 0.172 -distance 30 -lambda 0.9 -Xbeam 8.0 "
        "-Ybeam 8.5 -phi 0",
        response="-seed 13 -calibration 0.05 -readout 5 -psf gauss -psf_fwhm 250 -psf_radius 3 "
        "-scale 60"),
    # pipeline_water_hkl with water and air: float_add water air, then float_add spots and that
    "water_air_two_backgrounds_pgm": dict(
        nanoBragg="-hkl inputs/P1_pipe.hkl -cell 34 40 46 90 90 90 -misset 10 20 30 -N 20 -lambda 1.0 "
        "-distance 100 -detpixels 64 -pixel 0.1 -mosflm -Xbeam 3.15 -Ybeam 3.35 -fluence 1e+26 "
        "-beamsize 0.001",
        nonBragg=["-stol inputs/water.stol -lambda 1.0 -distance 100 -detpixels 64 -pixel 0.1 "
                  "-Xbeam 3.4 -Ybeam 3.2 -thickness 0.0001 -beamsize 0.001 -fluence 1e+26",
                  "-stol inputs/air.stol -lambda 1.0 -distance 100 -detpixels 64 -pixel 0.1 "
                  "-Xbeam 3.4 -Ybeam 3.2 -thickness 0.02 -density 0.0012 -MW 28.96 -beamsize 0.001 "
                  "-fluence 1e+26"],
        background="-bg_stol inputs/water.stol -bg_thick 0.0001 "
        "-bg_stol inputs/air.stol -bg_thick 0.02 -bg_density 0.0012 -bg_MW 28.96",
        geometry="-detpixels_x 64 -detpixels_y 64 -pixel 0.1 -distance 100 -lambda 1.0 -Xbeam 3.15 "
        "-Ybeam 3.35 -phi 0",
        response="-seed 17 -readout 1 -gain 0.5 -adc 100"),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def float_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float_add.c with its defaults (scale1 = scale2 = outscale = 1, offsets 0) on two
    float32 images: the double sum rounded to float32."""
    return (a.astype(np.float64) + b.astype(np.float64)).astype(np.float32)


def check_float_add() -> None:
    """`float_add` reproduces the golden pipelines' C sums byte for byte."""
    manifest = json.loads((GOLDEN_NONBRAGG / "manifest.json").read_text())
    for p in manifest["pipelines"]:
        ref = np.load(GOLDEN_NONBRAGG / p["file"])
        assert float_add(ref["spots"], ref["background"]).tobytes() == ref["sum"].tobytes(), p["name"]


def chain(case: dict, tmp: str) -> None:
    """Run the C chain of ``case`` in ``tmp``: sum.bin (the float image noisify.c reads) and
    noisify.c's int.img, noise.img, image.pgm."""
    run = {"cwd": tmp, "check": True, "capture_output": True,
           "env": {**os.environ, "OMP_NUM_THREADS": "1"}}
    (Path(tmp) / "inputs").symlink_to(GOLDEN_NONBRAGG.resolve() / "inputs")
    subprocess.run([NANOBRAGG, *case["nanoBragg"].split(), "-floatfile", "spots.bin", "-nonoise",
                    "-nopgm", "-intfile", "nb.img", "-noprogress"], **run)
    total = np.fromfile(Path(tmp) / "spots.bin", dtype="<f4")
    background = None
    for i, args in enumerate(case.get("nonBragg", [])):
        subprocess.run([NONBRAGG, *args.split(), "-floatfile", f"bg{i}.bin", "-intfile", f"bg{i}.img",
                        "-pgmfile", f"bg{i}.pgm", "-nonoise", "-noprogress"], **run)
        image = np.fromfile(Path(tmp) / f"bg{i}.bin", dtype="<f4")
        background = image if background is None else float_add(background, image)
    if background is not None:
        total = float_add(total, background)
    total.astype("<f4").tofile(Path(tmp) / "sum.bin")
    subprocess.run([NOISIFY, "-floatfile", "sum.bin", *case["geometry"].split(),
                    *case["response"].split(), "-intfile", "int.img", "-noisefile", "noise.img",
                    "-pgmfile", "image.pgm"], **run)


def main() -> None:
    check_float_add()
    manifest = {"reference": [NANOBRAGG, NONBRAGG, "float_add (generate.float_add)", NOISIFY],
                "cases": []}
    for name, case in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            chain(case, tmp)
            files = {f: sha(Path(tmp) / f) for f in ("int.img", "noise.img", "image.pgm")}
            manifest["cases"].append({
                "name": name, "nanoBragg": case["nanoBragg"], "nonBragg": case.get("nonBragg", []),
                "background": case.get("background", ""), "noisify_geometry": case["geometry"],
                "noisify_response": case["response"], "sha256": files,
                "floatimage_sha256": sha(Path(tmp) / "sum.bin")})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
