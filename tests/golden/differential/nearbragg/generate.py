"""Regenerate manifest.json: small nearBragg.c runs behind the regressions of
tests/test_nearbragg_differential.py, found by differential fuzzing. Needs the reference
binary (NEARBRAGG_C, default /work/cbin/nearBragg; run with OMP_NUM_THREADS=1) and the
public atom files (tests/golden/nearbragg/inputs). Each case runs its ``pre_runs`` and then
``args`` in one fresh directory holding inputs/; the manifest records the command lines, the
sha256 of every file the last run wrote and its stdout (the banner line dropped).

    python tests/golden/differential/nearbragg/generate.py
"""
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

NEARBRAGG = os.environ.get("NEARBRAGG_C", "/work/cbin/nearBragg")
HERE = Path(__file__).parent
INPUTS = HERE.parents[1] / "nearbragg" / "inputs"
OUT = ["-floatfile", "float.bin", "-intfile", "int.img", "-noprogress"]
SINCOS = ["-sinfile", "sin.bin", "-cosfile", "cos.bin"]

# name: (pre_runs, args); OUT (and SINCOS for -coherent) are appended to every run.
CASES = {
    # mm / deg / A / percent converted by division: 6.536/0.172 mm is 38 pixels, not 39
    "units_divided_twotheta_wave_div": ([], "-file inputs/few_atoms.txt -pixel 0.172 -detsize 6.536 "
                                        "-distance 100 -twotheta 18.61 -wave 0.558 -Xbeam 1.766 "
                                        "-dispersion 0.3 -dispsteps 2 -divergence 0.5 -vdivstep 0.5 "
                                        "-hdivsteps 1"),
    # curved detector positions through glibc sin/cos
    "curved_twotheta_far_os2": ([], "-file inputs/few_atoms.txt -pixel 0.08 -detpixels 20 -distance 80 "
                                "-lambda 2.010 -twotheta 8.83 -curved_det -source_distance far "
                                "-oversample 2"),
    # an ROI selecting no pixel: nothing rendered, all files written
    "empty_roi": ([], "-file inputs/few_atoms.txt -detpixels 12 -roi 5 2 0 3"),
    # -accumulate: missing files (WARNING lines), then the import lines
    "accumulate_missing_then_import": (
        ["-file inputs/lattice_half1.txt -detpixels 16 -distance 50 -roi 2 13 3 11 -accumulate"],
        "-file inputs/lattice_half2.txt -detpixels 16 -distance 50 -roi 2 13 3 11 -accumulate"),
    "accumulate_coherent_missing_then_import": (
        ["-file inputs/lattice_half1.txt -detpixels 16 -distance 50 -coherent -accumulate"],
        "-file inputs/lattice_half2.txt -detpixels 16 -distance 50 -coherent -accumulate"),
    # coherent -accumulate with 27 steps: cosimage[j]*steps is a float32 product in the C
    "accumulate_coherent_27_steps": (
        ["-file inputs/lattice_half1.txt -detpixels 24 -distance 50 -coherent -oversample 3 "
         "-dispsteps 3 -dispersion 1"],
        "-file inputs/lattice_half2.txt -detpixels 24 -distance 50 -coherent -oversample 3 "
        "-dispsteps 3 -dispersion 1 -accumulate"),
    # "far" is sticky: a later -source_distance in mm does not clear it
    "source_far_then_mm": ([], "-file inputs/few_atoms.txt -detpixels 8 -source_distance far "
                           "-source_distance 0.0281"),
    # 1000 atoms, coherent: the C's running Fa += term, atom by atom (a pairwise sum flips
    # the float32 rounding of a few sin/cos pixels)
    "coherent_1000_atoms_sequential_sum": (
        ["-file inputs/lattice_1000.txt -pixel 0.1 -detpixels_x 23 -detpixels_y 40 -distance 300 "
         "-curved_det -source_distance far -roi 2 45 0 32 -coherent"],
        "-file inputs/lattice_1000.txt -pixel 0.1 -detpixels_x 23 -detpixels_y 40 -distance 300 "
        "-curved_det -source_distance far -roi 2 45 0 32 -coherent -accumulate"),
    # summary statistics: sum and sumsqr pixel by pixel, squares as float32 products
    "accumulate_far_depth_rms": (
        ["-file inputs/lattice_half1.txt -pixel 0.172 -detpixels 20 -distance 300 -Ybeam -0.482 "
         "-pix0_vector 0.1886 0.00135 -0.00117 -lambda 1.534 -source_distance far -source_depth 5 "
         "-depthsteps 3 -roi 5 17 0 48"],
        "-file inputs/lattice_half1.txt -pixel 0.172 -detpixels 20 -distance 300 -Ybeam -0.482 "
        "-pix0_vector 0.1886 0.00135 -0.00117 -lambda 1.534 -source_distance far -source_depth 5 "
        "-depthsteps 3 -roi 5 17 0 48 -accumulate"),
    # k max|a| = 1.5e4 rad (234 A at 0.1 A): a float32 render computes in float64
    # (`engine.float32_keeps_phase`), so the default dtype gives the C's bytes too
    "float32_upgraded_short_wavelength": ([], "-file inputs/lattice_1000.txt -lambda 0.1 "
                                          "-detpixels 16 -distance 100 -oversample 1"),
    # printout: omega = omega_Rsqr/airpath/airpath, I/sr = pixel/omega
    "printout_all_coherent_curved_point_pixel": (
        [], "-file inputs/lattice_half1.txt -detpixels 12 -distance 30 -Ybeam -0.821 "
        "-fdet_vector 0 0.21461 0.97670 -sdet_vector 0 -0.97670 0.21461 -odet_vector 1 0.150 0 "
        "-source_distance 100 -oversample 1 -coherent -point_pixel -curved_det -printout"),
    # -debug: "blank" lines of both passes of the atom file, "reading", "initializing"
    "debug_blank_lines": ([], "-file inputs/format_quirks.txt -detpixels 8 -debug"),
    # -printout_pixel with a negative fast index prints every pixel
    "printout_pixel_negative_all": ([], "-file inputs/few_atoms.txt -detpixels 4 -printout_pixel -1 0"),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def command(args: str) -> list:
    argv = args.split()
    return argv + OUT + (SINCOS if "-coherent" in argv else [])


def run_case(pre: list, args: str, tmp: str) -> tuple:
    """(sha256 of each output file, stdout lines without the banner) of the last run."""
    run = {"cwd": tmp, "check": True, "capture_output": True, "text": True,
           "env": {**os.environ, "OMP_NUM_THREADS": "1"}}
    (Path(tmp) / "inputs").symlink_to(INPUTS.resolve())
    for p in pre:
        subprocess.run([NEARBRAGG, *command(p)], **run)
    out = subprocess.run([NEARBRAGG, *command(args)], **run).stdout.splitlines()[1:]
    names = ["float.bin", "int.img"] + (["sin.bin", "cos.bin"] if "-coherent" in args else [])
    return {n: sha(Path(tmp) / n) for n in names}, out


def main() -> None:
    manifest = {"reference": NEARBRAGG, "output_flags_appended": OUT + SINCOS, "cases": []}
    for name, (pre, args) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            files, out = run_case(pre, args, tmp)
        manifest["cases"].append({"name": name, "pre_runs": pre, "args": args, "sha256": files,
                                  "stdout": out})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
