"""Regenerate manifest.json: nanoBragg.c command lines found by differential fuzzing where our
float64 render once differed from the C (tests/test_nanobragg_differential.py). Each case is
run with the reference binary (NANOBRAGG_C, default /work/cbin/nanoBragg, OMP_NUM_THREADS=1)
in an empty directory holding only ``inputs`` (tests/golden/inputs); the manifest records the
command line, the sha256 of the C's float file (float32) and SMV int file, the float image's
sum and max, and the first stdout line containing each text in ``printed``.

    python tests/golden/differential/nanobragg/generate.py
"""
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

NANOBRAGG = os.environ.get("NANOBRAGG_C", "/work/cbin/nanoBragg")
HERE = Path(__file__).parent
INPUTS = HERE.parent.parent / "inputs"

# name: (physics args, texts whose stdout lines are recorded, why)
CASES = {
    "misset_random_seed_powf": (
        "-cell 50 60 70 90 90 90 -misset_seed 9580 -misset random -N 3 -default_F 129.4 -lambda 1.3 "
        "-distance 80 -detpixels 24",
        ["random orientation misset angles:"],
        "mosaic_rotation_umat's powf: numpy's float32 power was 1 ulp off glibc's here, the "
        "misset angles 3e-4 deg off, pixels 1.6e-5 of the maximum"),
    "mosaic_auto_domains_powf": (
        "-cell 44.4 44.4 47.2 90 90 120 -misset 170.59 -71.33 -19.91 -N 3 -default_F 154.4 "
        "-mosaic 0.517 -lambda 1.088 -xds -close_distance 133.9 -detector_rotz 8.75 -detpixels 40 "
        "-oversample 3",
        [],
        "10 mosaic domains from the default seed: float32 rotation angles 1 ulp off in some "
        "domains, int-image pixels flipped"),
    "round_xtal_subpixel_on_beam": (
        "-cell 42.3 64.6 37.8 90 90 90 -N 4 -default_F 209.6 -round_xtal -distance 75 -detsize 3.45",
        [],
        "auto 2x2 oversampling puts a sub-pixel of pixel (18, 18) on the direct beam: the C's "
        "sinc3 formula gives 0 there (quirk 11), our series gave 1 (pixel 35 % high)"),
    "sourcefile_divsteps_printed": (
        "-cell 50 50 50 90 90 90 -N 3 -default_F 100 -sourcefile inputs/sources_xyz_only.txt -distance 90 "
        "-detpixels 24",
        ["divergence steps"],
        "with -sourcefile the C prints its divsteps' initial value, -1 (we printed 0)"),
    "nopolar_oversample_polar": (
        "-cell 31.5 31.5 31.5 90 90 90 -misset 10 20 30 -N 3 -default_F 35.3 -hdivrange 0.3 -hdivsteps 3 "
        "-polar 0.6 -nopolar -oversample_polar -oversample 2 -detpixels 16",
        [],
        "-oversample_polar recomputes polar at every step even with -nopolar (quirk 12); we used 1"),
    "water_fluence_double": (
        "-cell 62.7 62.7 42.9 90 90 120 -misset 50.97 87.99 -13.85 -hkl inputs/P1_pub_sparse.hkl "
        "-default_F 4.6 -lambda 1.222 -mosflm -distance 183.2 -Xbeam 2.725 -Ybeam 1.891 "
        "-detector_rotz -5.14 -detpixels 40 -oversample 3 -water 2 -adc 47.9",
        [],
        "water I_bg used a float32 copy of the fluence (1.8e-8 relative): int-image pixels "
        "flipped"),
    "smv_header_overrun": (
        "-cell 38.7 65.3 57 90 100.6 90 -N 6 -default_F 259.3 -phi -20.9 -phistep 1.34 -phisteps 1 "
        "-energy 11799.5 -polar_vector 0.2763 -1.8546 0.6239 -fdet_vector 0.079 0.048 1 -pivot sample "
        "-distance 163.9 -twotheta 2.27 -detpixels 40 -pixel 0.172",
        [],
        "the SMV header runs past 512 bytes (long vector and centre values): the C writes it whole "
        "under HEADER_BYTES=512 with the pixels right after it (quirk 13); we padded to 1024"),
    "float32_upgraded_sharp_spots": (
        "-cell 100 100 100 90 90 90 -default_F 100 -N 20 -lambda 1 -distance 100 -detpixels 96 "
        "-oversample 1",
        [],
        "sharpness N |a| / lambda = 2000: a float32 render read a sum 1.4e-4 from the C's (golden "
        "float32 threshold 1e-4); it now computes in float64 (precision.working_dtype)"),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    cases = []
    for name, (args, printed, why) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "inputs").symlink_to(INPUTS.resolve())
            out = subprocess.run([NANOBRAGG, *args.split(), "-floatfile", "floatimage.bin", "-intfile",
                                  "intimage.img", "-nonoise", "-nopgm", "-noprogress"], cwd=tmp,
                                 check=True, capture_output=True, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
            image = np.fromfile(Path(tmp) / "floatimage.bin", dtype="<f4").astype(np.float64)
            lines = {p: next(ln.strip() for ln in out.splitlines() if p in ln) for p in printed}
            cases.append({"name": name, "args": args, "why": why,
                          "floatimage_sha256": sha(Path(tmp) / "floatimage.bin"),
                          "intimage_sha256": sha(Path(tmp) / "intimage.img"),
                          "sum": float(image.sum()), "max": float(image.max()), "printed": lines})
    manifest = {"reference": NANOBRAGG, "threads": 1, "cases": cases}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
