"""Regenerate manifest.json: nonBragg.c on small command lines found by differential fuzzing
(tests/test_nonbragg_differential.py). Needs the reference binary (NONBRAGG_C, default
/work/cbin/nonBragg; run with OMP_NUM_THREADS=1). Each case runs in a fresh directory holding
a copy of inputs/ (written here first: a 9-row table, a 40x32 SMV image, the same image under a
big_endian header, a source file); the manifest records the command, the C's stdout (the -img
reader's lines before the banner with the heap address blanked, the lines after the banner),
the int file's header, the sha256 of the int, PGM and noise pixels, and the -stolout lines.

    python tests/golden/differential/nonbragg/generate.py
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

NONBRAGG = os.environ.get("NONBRAGG_C", "/work/cbin/nonBragg")
HERE = Path(__file__).parent
TABLE = "inputs/coarse.stol"
OUT = "-floatfile floatimage.bin -intfile intimage.img -pgmfile image.pgm"

CASES = {
    # SMV OSC_RANGE is osc after the phi auto rules (lines 893-935)
    "osc_phisteps_only": f"-stol {TABLE} -detpixels 8 -phisteps 3 -nonoise",
    "osc_phistep_only": f"-stol {TABLE} -detpixels 8 -phistep 0.1 -nonoise",
    # -printout: ROI pixels only, 'stol = <1/m> or <sin(2theta/2)/lambda0>' (lines 1587-1600)
    "printout_roi_or_stol": f"-stol {TABLE} -detpixels 6 -pixel 0.5 -distance 20 -oversample 2 "
                            "-printout -roi 1 3 2 2 -nonoise",
    "printout_pixel_outside_roi": f"-stol {TABLE} -detpixels 8 -printout_pixel 0 0 -roi 2 4 2 4 -nonoise",
    # a source file leaves divsteps at its initial -1 (printed)
    "sourcefile_divsteps": f"-stol {TABLE} -detpixels 8 -sourcefile inputs/two_sources.txt -nonoise",
    # xmin > xmax: no pixel rendered, statistics of nothing (n forced to 1 and 2)
    "empty_roi": f"-stol {TABLE} -detpixels 8 -roi 5 3 0 7 -nonoise",
    # -stolout with an ROI: pixels outside it overflow bin 0's slot of the bin buffer (1628-1650)
    "stolout_roi_overflow": f"-stol {TABLE} -img inputs/in_40x32.img -stolout so.txt -roi 6 33 4 27 -nonoise",
    "stolout_roi_ignore_gain": f"-stol {TABLE} -img inputs/in_40x32.img -stolout so.txt -roi 3 36 0 29 "
                               "-ignore 150 -ignore 100 -gain 1.7 -adc 20 -nonoise",
    "stolout_no_roi": f"-stol {TABLE} -img inputs/in_40x32.img -stolout so.txt -nonoise",
    # GetFrame never swaps bytes: BYTE_ORDER=big_endian is read little-endian (lines 2515-2521)
    "img_big_endian_not_swapped": f"-stol {TABLE} -img inputs/in_40x32_big.img -stolout so.txt -nonoise",
    # printed run summary: clipping warnings first, grid and wavelengths, flags, noise seed, max_I at
    "summary_grid_flags_seed": f"-stol {TABLE} -detpixels 8 -divergence 1 -divsteps 3 -dispersion 1 "
                               "-dispsteps 2 -curved_det -point_pixel -Fmap -beamsize 0.05 -seed 5 "
                               "-noisefile noise.img",
    # the progress meter (on by default): ROI bounds with xmax = fpixels (lines 1601-1612)
    "progress_meter_roi": f"-stol {TABLE} -detpixels 30 -roi 2 25 3 27 -nonoise -progress",
    # curved detector: every omega equal, the C's running sum decides the printed last digit
    "curved_solid_angle_sum": f"-stol {TABLE} -detsize_x 20.12 -detsize_y 12.03 -pixel 0.25 -Xbeam 8.113 "
                              "-pivot sample -twotheta 14.08 -curved_det -nonoise",
    # nanoBragg's flags are ignored, except where strstr finds a nonBragg option in them
    "nanobragg_flags_ignored": f"-stol {TABLE} -detpixels 8 -mosflm -hkl none.hkl -cell 10 20 30 90 90 90 "
                               "-N 5 -misset random -dmin 2 -water 100 -mat none.mat -xds -nonoise",
    "thicksteps_sets_thickness": f"-stol {TABLE} -detpixels 8 -thicksteps 3 -nonoise",
    "oversample_alias_reads_next": f"-stol {TABLE} -detpixels 8 -oversample 3 -oversample_polar "
                                   "-distance 50 -nonoise",
}


def write_inputs(d: Path) -> None:
    """The tiny inputs (deterministic)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "coarse.stol").write_text("0 10\n0.05 9\n0.1 7\n0.15 5\n0.2 4\n0.25 3.5\n0.3 3\n0.4 2.5\n0.5 2\n")
    (d / "two_sources.txt").write_text("-10 0 0 1 1e-10\n-10 0.1 0 0.5\n")
    f, s = 40, 32
    head = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1=%d;\n"
            "SIZE2=%d;\nPIXEL_SIZE=0.5;\nDISTANCE=15;\nWAVELENGTH=1;\nBEAM_CENTER_X=10;\nBEAM_CENTER_Y=8;\n}\f"
            % (f, s)).encode().ljust(512, b" ")
    yy, xx = np.mgrid[0:s, 0:f]
    data = (100 + 3 * xx + 7 * yy + (xx * yy) % 11).astype("<u2")
    (d / "in_40x32.img").write_bytes(head + data.tobytes())
    # the same pixels (little-endian) under a header that says big_endian
    big = head.replace(b"BYTE_ORDER=little_endian;", b"BYTE_ORDER=big_endian;   ")
    (d / "in_40x32_big.img").write_bytes(big + data.tobytes())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def smv(path: Path) -> tuple:
    raw = path.read_bytes()
    head = raw[:512].split(b"}")[0].decode()
    return dict(line.rstrip(";").split("=", 1) for line in head.splitlines() if "=" in line), raw[512:]


def pgm_pixels(path: Path, pixels: int) -> bytes:
    """The first width*height pixel bytes (the C writes twice as many)."""
    return path.read_bytes().split(b"\n", 4)[4][:pixels]


def split_banner(stdout: str) -> tuple:
    """(lines before the banner with heap addresses as <address>, lines after it)."""
    lines = stdout.splitlines()
    banner = next(i for i, line in enumerate(lines) if line.startswith("nonBragg "))
    return [re.sub(r"0x[0-9a-f]+", "<address>", line) for line in lines[:banner]], lines[banner + 1:]


def run_case(name: str, args: str, tmp: Path) -> dict:
    work = tmp / name
    shutil.copytree(HERE / "inputs", work / "inputs")
    argv = args.split() + OUT.split() + ([] if "-progress" in args.split() else ["-noprogress"])
    out = subprocess.run([NONBRAGG, *argv], cwd=work, capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    header, ints = smv(work / "intimage.img")
    pixels = int(header["SIZE1"]) * int(header["SIZE2"])
    before, after = split_banner(out)
    case = {"args": argv, "before_banner": before, "stdout": after, "intfile_header": header,
            "int_sha256": sha(ints),
            "pgm_sha256": sha(pgm_pixels(work / "image.pgm", pixels))}
    if (work / "noise.img").exists():
        case["noise_sha256"] = sha(smv(work / "noise.img")[1])
    if (work / "so.txt").exists():
        case["stolout_lines"] = (work / "so.txt").read_text().splitlines()
    return case


def main() -> None:
    write_inputs(HERE / "inputs")
    manifest = {"reference": NONBRAGG, "generator": "tests/golden/differential/nonbragg/generate.py",
                "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in CASES.items():
            manifest["cases"][name] = run_case(name, args, Path(tmp))
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
