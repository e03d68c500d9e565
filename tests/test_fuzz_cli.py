"""Property test: random flag combinations and malformed input files thrown at the command
line either render or fail cleanly (exit status 2, one ``nanoBragg: error:`` line, no
traceback, no output or temporary file left).  500 in-process examples on tiny detectors,
plus a few runs of the real ``python -m nanobrag_torch`` process."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_util import eager_engine, run_cli  # noqa: F401  (autouse fixture)
from golden_util import GOLDEN
from nanobrag_torch.cli import output_paths
from nanobrag_torch.flags import FLAGS
from nanobrag_torch.io.hkl import read_hkl, write_fdump
from nanobrag_torch.io.smv import write_smv
from nanobrag_torch.simulate import parse

INPUTS = GOLDEN / "inputs"
SIDE = 6                                    # every run ends with -detpixels SIDE


def _smv(data: np.ndarray, extra: str = "") -> bytes:
    path = Path(tempfile.mkdtemp()) / "x.img"
    write_smv(path, data, [("HEADER_BYTES", "512"), ("DIM", "2"), ("BYTE_ORDER", "little_endian"),
                           ("SIZE1", str(data.shape[1])), ("SIZE2", str(data.shape[0])),
                           ("PIXEL_SIZE", "0.1"), ("DISTANCE", "100"), ("WAVELENGTH", "1.5")]
              + ([("PHI", extra)] if extra else []))
    raw = path.read_bytes()
    path.unlink()
    path.parent.rmdir()
    return raw


def _fdump(default_F: float) -> bytes:
    path = Path(tempfile.mkdtemp()) / "F.bin"
    write_fdump(path, read_hkl(INPUTS / "P1_pub_sparse.hkl", default_F))
    raw = path.read_bytes()
    path.unlink()
    path.parent.rmdir()
    return raw


_MASK = np.ones((SIDE, SIDE), np.uint16)
_MASK[2, 3] = 0
# name -> possible contents (good ones first); every file is written into each run's directory.
INPUT_FILES = {
    "a.hkl": [(INPUTS / "P1_pub_sparse.hkl").read_bytes(), b"1 2 3 4\nabc\n", b"", b"1 2 3\n",
              b"1 2 3 nan\n", b"0 0 0 10\n", b"1.5 2 3 4\n", b"\xff\xfe\x00\n",
              b"-100000 0 0 1\n100000 0 0 1\n"],
    "a.mat": [(INPUTS / "A_pub.mat").read_bytes(), b"1 2 3\n4 5 6\n", b"1 2 x\n4 5 6\n7 8 9\n",
              b"0 0 0\n0 0 0\n0 0 0\n", b"inf 0 0 0 1 0 0 0 1\n", b"1e-300 0 0\n0 1e-300 0\n0 0 1e-300\n"],
    "s.txt": [(INPUTS / "two_sources.txt").read_bytes(), (INPUTS / "sources_xyz_only.txt").read_bytes(),
              b"# X Y Z\n-10 0 0\n", b"\n\n", b"0 0 0 1 1e-10\n", b"-10 0 0 1 -1e-10\n",
              b"-10 0 0 -1 1e-10\n-10 0 0 1 1e-10\n", b"-10 0 0 nan nan\n"],
    "m.img": [_smv(_MASK), _smv(np.zeros((SIDE, SIDE), np.uint16)), _smv(np.ones((3, 4), np.uint16)),
              _smv(_MASK)[:600], b"not an image", _smv(_MASK, "abc")],
    "h.img": [(INPUTS / "header_96x80.img").read_bytes(), _smv(_MASK, "5"),
              b"{\nHEADER_BYTES=99999;\n}" + b" " * 600, b"{\nHEADER_BYTES=512;\nSIZE1=-3;\n}" + b" " * 600],
    "F.dump": [_fdump(7.0), _fdump(0.0)[:-8], b"1 2 3\n\f", b"0 0 0 0 0 0\n\f" + b"\0" * 64,
               b"0 0 0 0 0 0\n\f" + np.full(8, np.nan).tobytes()],
}
INPUT_NAMES = list(INPUT_FILES) + ["missing.hkl", ".", "sub"]
OUTPUT_NAMES = ["out.bin", "out.img", "sub/out.x", "nodir/out.x", ".", "sub"]

SMALL_INTS = st.sampled_from(["0", "1", "2", "3", "-1", "-2", "1.5", "abc", "nan", "1e9", "99999999999999999999"])
SIZES = st.sampled_from(["0", "0.5", "1", "2", "10", "-1", "1e-9", "abc", "inf", "nan"])
NUMBERS = st.one_of(
    st.sampled_from(["0", "-0", "1", "-1", "90", "180", "1e300", "-1e300", "1e-300", "inf", "-inf",
                     "nan", "abc", "", "1,5", "0x10", "--1"]),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).map(repr))
BOUNDED = {"-oversample", "-phisteps", "-mosaic_domains", "-divsteps", "-hdivsteps", "-vdivsteps",
           "-dispsteps", "-detector_thicksteps", "-thicksteps", "-N", "-Na", "-Nb", "-Nc",
           "-detpixels", "-detpixels_f", "-detpixels_s", "-detpixels_x", "-detpixels_y", "-roi",
           "-printout_pixel", "-seed", "-mosaic_seed", "-misset_seed"}
SIZED = {"-phistep", "-hdivstep", "-vdivstep", "-osc", "-hdivrange", "-vdivrange", "-divergence",
         "-dispersion", "-detector_thick", "-samplesize", "-sample_size", "-xtalsize", "-xtal_size",
         "-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x", "-sample_width", "-sample_y",
         "-width", "-xtal_width", "-xtal_y", "-sample_height", "-sample_heigh", "-sample_z",
         "-height", "-heigh", "-xtal_height", "-xtal_heigh", "-xtal_z", "-detsize", "-detsize_f",
         "-detsize_s", "-water", "-detector_abs", "-detector_absorb", "-detector_absorption"}
INPUT_FLAGS = {"-hkl", "-mat", "-sourcefile", "-mask", "-img", "-dump", "-dumpfile", "-stol",
               "-4stol", "-Q"}
OUTPUT_FLAGS = {"-floatfile", "-floatimage", "-intfile", "-intimage", "-pgmfile", "-pgmimage",
                "-noisefile", "-noiseimage", "-npyfile", "-pngfile"}
WORDS = {"-pivot": ["sample", "beam", "middle"], "-dtype": ["float32", "float64", "half"],
         "-backend": ["torch", "auto", "triton", "x"], "-device": ["cpu", "cuda", "tpu"],
         "-quirks": ["c", "fixed", "none"]}
SLOW = {"-printout", "-progress"}            # -printout alone traces every pixel: keep it rare


def _values(name: str, nargs: int):
    if name in INPUT_FLAGS:
        return st.lists(st.sampled_from(INPUT_NAMES), min_size=1, max_size=1)
    if name in OUTPUT_FLAGS:
        return st.lists(st.sampled_from(OUTPUT_NAMES), min_size=1, max_size=1)
    if name in WORDS:
        return st.lists(st.sampled_from(WORDS[name]), min_size=1, max_size=1)
    if name == "-misset":
        return st.one_of(st.just(["random"]), st.lists(NUMBERS, min_size=3, max_size=3))
    count = 6 if nargs == -6 else nargs
    values = SMALL_INTS if name in BOUNDED else SIZES if name in SIZED else NUMBERS
    return st.lists(values, min_size=0 if nargs < 0 else count, max_size=count)


FLAG_NAMES = sorted(n for n in FLAGS if n not in SLOW)
FRAGMENT = st.one_of(                          # (flag, [values]) pairs, shown as such on failure
    st.sampled_from(FLAG_NAMES).flatmap(lambda n: st.tuples(st.just(n), _values(n, FLAGS[n].nargs))),
    st.sampled_from([("-bogus_flag", []), ("stray", []), ("-printout", []), ("-hkl", []),
                     ("-cell", ["10"])]))
BASE = st.sampled_from([
    "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100",
    "-cell 70 80 90 75 85 95 -misset 10 20 30 -hkl a.hkl -N 2 -lambda 1.5 -distance 80",
    "-mat a.mat -hkl a.hkl -default_F 3 -N 3 -lambda 1 -distance 50",
    "-cell 50 60 70 90 90 90 -dump F.dump -N 5 -lambda 1.5 -distance 80",
    "-default_F 10",
    ""]).map(str.split)


def _check_run(argv: list, cwd: Path) -> int:
    """Run main(argv) in cwd and check the clean-failure / complete-success contract."""
    before = set(os.listdir(cwd)) | {"sub/" + n for n in os.listdir(cwd / "sub")}
    status, _, err, expected = run_cli(
        argv, cwd, after=lambda status: {os.path.normpath(p) for p in output_paths(parse(argv))}
        if status == 0 else set())
    after = set(os.listdir(cwd)) | {"sub/" + n for n in os.listdir(cwd / "sub")}
    created = after - before
    assert not [n for n in created if n.rsplit("/", 1)[-1].startswith(".")], created  # no temp files
    lines = err.splitlines()
    assert "Traceback" not in err
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith("nanoBragg: error: "), lines
        assert created == set(), created
    else:
        assert status == 0 and lines == [], lines
        assert expected <= after and created <= expected, (expected, created)
    return status


@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(base=BASE, fragments=st.lists(FRAGMENT, max_size=5),
       contents=st.fixed_dictionaries({n: st.sampled_from(range(len(c))) for n, c in INPUT_FILES.items()}),
       tail=st.sampled_from([["-oversample", "1"], ["-oversample", "2"], ["-nonoise", "-oversample", "1"]]))
def test_random_command_lines_render_or_fail_cleanly(base, fragments, contents, tail):
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "sub").mkdir()
        for name, index in contents.items():
            (cwd / name).write_bytes(INPUT_FILES[name][index])
        argv = base + [a for name, values in fragments for a in [name, *values]]
        argv += ["-detpixels", str(SIDE)] + tail + ["-noprogress"]
        _check_run(argv, cwd)


@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(fragments=st.lists(FRAGMENT, min_size=1, max_size=3))
def test_random_command_lines_in_a_real_process(fragments):
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for name, contents in INPUT_FILES.items():
            (cwd / name).write_bytes(contents[1])                     # the malformed variants
        argv = (["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100"]
                + [a for name, values in fragments for a in [name, *values]]
                + ["-hkl", "a.hkl", "-detpixels", str(SIDE), "-oversample", "1"])
        proc = subprocess.run([sys.executable, "-m", "nanobrag_torch", *argv], cwd=cwd,
                              capture_output=True, text=True, timeout=300)
        errors = [line for line in proc.stderr.splitlines() if "nanoBragg: error:" in line]
        assert proc.returncode == 2 and len(errors) == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert sorted(os.listdir(cwd)) == sorted(INPUT_FILES)
