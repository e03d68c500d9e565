"""Acceptance 2 of the noisify issue: the golden README's full-size check, side by side.

At 4096^2 (the README's nanoBragg render, sha256 checked), runs noisify.c and ours
(``python -m nanobrag_torch.noisify``) alternately, each with 2 threads, whole process wall
time, for (a) noise only and (b) noise + PSF; checks that both write the noise image whose
sha256 the README gives; writes reports/noisify_speed.md.

    python bench/noisify_speed.py [--repeats 3] [--workdir /tmp/noisify_bench]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.provenance import stamp_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NANOBRAGG = os.environ.get("NANOBRAGG_C", "/work/cbin/nanoBragg")
NOISIFY = os.environ.get("NOISIFY_C", "/work/cbin/noisify")
INPUT_SHA = "59732d7f1dfa37b4e8fb89d46d329a0980df0264a7d9f8948dad90a3cbc48f1c"
RENDER = ("-cell 100 100 100 90 90 90 -default_F 1000 -N 5 -lambda 1.0 -distance 200 "
          "-detpixels 4096 -pixel 0.1 -water 0.04 -oversample 1 -floatfile timing_4096.bin "
          "-intfile nb_int.img -nonoise -nopgm -noprogress")
BASE = "-floatfile ../timing_4096.bin -detpixels 4096 -pixel 0.1 -seed 1 -readout 3 -flicker 0.02 -calibration 0.03"
RUNS = {  # name: (args, README's noiseimage.img sha256, README's C time)
    "(a) noise only": (BASE, "25df096e733e794fa8dee915388777783ab58cd7f1650a561b1b7a4042776bd5", 2.12),
    "(b) noise + PSF": (BASE + " -psf gauss -psf_fwhm 100",
                        "894aa521ba4863a14a9ba483347bedbc606b1080940e407402799e05b5b8e915", 3.64),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def timed(cmd: list, cwd: Path, env: dict, cpu: list | None = None) -> float:
    """Wall seconds of ``cmd``; its CPU seconds (user + system) appended to ``cpu``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/noisify_bench")
    opts = parser.parse_args()
    work = Path(opts.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "timing_4096.bin").exists():
        subprocess.run([NANOBRAGG, *RENDER.split()], cwd=work, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "2"}, stdout=subprocess.DEVNULL)
    assert sha(work / "timing_4096.bin") == INPUT_SHA, "timing_4096.bin differs from the README's"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2",
           "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'kernels'}"}
    ours_cmd = [sys.executable, "-m", "nanobrag_torch.noisify"]
    rows, load = [], []
    for name, (args, digest, readme) in RUNS.items():
        times, cpu = {"C": [], "ours": []}, {"C": [], "ours": []}
        for label in ("C", "ours"):
            (work / label).mkdir(exist_ok=True)
        timed(ours_cmd + args.split(), work / "ours", env)          # warm the numba cache
        for _ in range(opts.repeats):
            for label, cmd in (("C", [NOISIFY]), ("ours", ours_cmd)):
                times[label].append(timed(cmd + args.split(), work / label, env, cpu[label]))
                load.append(os.getloadavg()[0])
        same = {label: sha(work / label / "noiseimage.img") == digest for label in times}
        best = {label: min(t) for label, t in times.items()}
        rows.append(f"| {name} | {best['C']:.2f} s ({', '.join(f'{t:.2f}' for t in times['C'])}) "
                    f"| {best['ours']:.2f} s ({', '.join(f'{t:.2f}' for t in times['ours'])}) "
                    f"| {best['ours'] / best['C']:.2f} | {min(cpu['C']):.2f} s / {min(cpu['ours']):.2f} s "
                    f"| {readme} s | {same['C']} / {same['ours']} |")
    write_report("noisify_speed.md", [
        "# noisify at 4096^2: ours vs noisify.c, side by side",
        "",
        f"Written by `python bench/noisify_speed.py --repeats {opts.repeats}`. Input: the golden "
        "README's 4096^2 nanoBragg render (sha256 checked). Whole process wall time (read 64 MiB, "
        "write the int image, PGM and noise image), min of the repeats, C and ours alternating, "
        "2 threads each (`OMP_NUM_THREADS=2`, `NUMBA_NUM_THREADS=2`); ours with its numba cache "
        "warm. Target (issue 13, acceptance 2): ours <= 0.5 x C. CPU time (user + system, all "
        "threads) is less sensitive to other jobs than wall time.",
        "",
        "| run | noisify.c | ours | ours / C | CPU time, C / ours (min) | C in the README "
        "| noise image sha256 = README (C / ours) |",
        "|---|---|---|---|---|---|---|",
        *rows], load)


def write_report(name: str, lines: list, load: list) -> None:
    """reports/``name``: ``lines``, then the load average seen (``load``) and the stamp;
    printed too."""
    report = ROOT / "reports" / name
    report.write_text("\n".join([
        *lines,
        "",
        f"Load average during the runs: {min(load):.1f} to {max(load):.1f} on "
        f"{os.cpu_count()} cores (other jobs were running when above ~1: times are inflated and "
        "noisy; the ratio is the comparable number).",
        "",
        f"Stamp: {stamp_line()}",
        ""]))
    print(report.read_text())


if __name__ == "__main__":
    main()
