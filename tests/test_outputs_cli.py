"""Output files through the command line: identical to the C on the golden cases, read back by
fabio, -dump, PNG preview, progress bar, up-front refusals and all-or-nothing output."""
from __future__ import annotations

import io
import json
import os
import time
import zlib
from pathlib import Path

import fabio
import fabio.adscimage
import numpy as np
import pytest
from PIL import Image

from cli_util import eager_engine, run_cli  # noqa: F401  (autouse fixture)
from golden_util import GOLDEN
from nanobrag_torch import cli
from nanobrag_torch.cli import write_outputs
from nanobrag_torch.io.atomic import OutputBatch
from nanobrag_torch.io.hkl import read_fdump, read_hkl
from nanobrag_torch.io.png import preview_rgb
from nanobrag_torch.io.smv import read_smv
from nanobrag_torch.noise import image_stats, noise_image
from nanobrag_torch.progress import ProgressBar, progress_bar
from nanobrag_torch.simulate import run

MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
OUTPUT_CASES = [c for c in MANIFEST["cases"] if set(c["arrays"]) & {"intimage", "noiseimage", "pgm"}]
FILES = {"intimage": "intimage.img", "noiseimage": "noiseimage.img", "pgm": "image.pgm"}
TOP_COLOUR = (252, 255, 164)                                     # colour map at t = 1
CUBIC = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100".split()


def _cli(args, cwd) -> tuple[int, str, str]:
    """main(args) run in `cwd`; (exit status, stdout, stderr)."""
    return run_cli(args, cwd)[:3]


def _abs_inputs(args: list) -> list:
    return [a.replace("inputs/", f"{GOLDEN / 'inputs'}/") for a in args]


def _read(kind: str, path: Path, shape) -> np.ndarray:
    if kind == "pgm":
        raw = path.read_bytes()
        return np.frombuffer(raw[len(raw) - shape[0] * shape[1]:], np.uint8).reshape(shape)
    return read_smv(path).data


# ------------------------------------------------------------- golden cases, through the CLI

@pytest.mark.parametrize("case", OUTPUT_CASES, ids=lambda c: c["name"])
def test_cli_writers_fed_the_golden_float_image_are_identical(case, tmp_path, capsys):
    """The CLI's write path (scales, ROI, headers from our geometry) on the C's float image."""
    golden = np.load(GOLDEN / case["file"])
    r = run(_abs_inputs(case["args"]))
    image = golden["floatimage"]
    max_I, _, mean, rms, rmsd = image_stats(image, r.config.detector.roi)
    stats = (max_I, mean, rms, rmsd)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        with OutputBatch() as batch:
            write_outputs(r, image, stats, batch)
    finally:
        os.chdir(old)
    for kind in set(case["arrays"]) & set(FILES):
        ours = _read(kind, tmp_path / FILES[kind], image.shape)
        np.testing.assert_array_equal(ours, golden[kind], err_msg=kind)
    for key, name in (("intfile_header", "intimage.img"), ("noisefile_header", "noiseimage.img")):
        if key in case:
            assert read_smv(tmp_path / name).fields == case[key]
    out = capsys.readouterr().out
    if "noise_photons" in case["c_printed"]:
        assert case["c_printed"]["noise_photons"] in out


def _boundary_mismatches(kind, ours, golden, f_ours, f_gold, scale, adc) -> int:
    """Count pixels that differ; assert each differs by one count where the two float images
    differ and straddle a rounding boundary (int: x.5, PGM: integers)."""
    bad = ours != golden
    if kind == "pgm":
        lo, hi = f_gold.astype(np.float64) * scale, f_ours.astype(np.float64) * scale
    else:
        lo = f_gold.astype(np.float64) * scale + adc + 0.5
        hi = f_ours.astype(np.float64) * scale + adc + 0.5
    straddle = np.floor(np.minimum(lo, hi)) != np.floor(np.maximum(lo, hi))
    step = np.abs(ours.astype(np.int64) - golden.astype(np.int64)) == 1
    assert (straddle & step)[bad].all(), f"{kind}: mismatches away from a rounding boundary"
    return int(bad.sum())


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=lambda c: c["name"])
def test_cli_end_to_end_matches_golden_except_rounding_boundaries(case, tmp_path):
    """Rendered in float64 by the CLI: the float image agrees with the C's to float32 rounding,
    and the int, PGM and noise images are identical except at pixels whose value sits on a
    rounding boundary (the noise stream is identical up to the first such float pixel)."""
    golden = np.load(GOLDEN / case["file"])
    status, out, _ = _cli(_abs_inputs(case["args"]) + ["-dtype", "float64"], tmp_path)
    assert status == 0
    f_gold = golden["floatimage"]
    f_ours = np.fromfile(tmp_path / "floatimage.bin", "<f4").reshape(f_gold.shape)
    np.testing.assert_allclose(f_ours, f_gold, rtol=4e-7, atol=0)
    scales = dict(line.split(" = ") for line in out.splitlines() if "_scale = " in line)
    adc = float(case["args"][case["args"].index("-adc") + 1]) if "-adc" in case["args"] else 40.0
    counts = {}
    for kind in set(case["arrays"]) & {"intimage", "pgm"}:
        scale = float(scales["intfile_scale" if kind == "intimage" else "pgm_scale"])
        ours = _read(kind, tmp_path / FILES[kind], f_gold.shape)
        counts[kind] = _boundary_mismatches(kind, ours, golden[kind], f_ours, f_gold, scale, adc)
    if "noiseimage" in case["arrays"]:
        ours = _read("noiseimage", tmp_path / FILES["noiseimage"], f_gold.shape).ravel()
        differ = np.flatnonzero(f_ours.ravel() != f_gold.ravel())
        first = differ[0] if differ.size else ours.size
        np.testing.assert_array_equal(ours[:first], golden["noiseimage"].ravel()[:first])
        counts["noiseimage"] = int((ours != golden["noiseimage"].ravel()).sum())
    print(case["name"], "pixels on a rounding boundary:", counts)


def test_noise_is_compiled_and_fast():
    image = np.random.default_rng(0).uniform(0, 20, (1024, 1024)).astype(np.float32)
    noise_image(image[:2, :2], -1, 40.0)                     # load the compiled code
    start = time.perf_counter()
    noisy, photons, _ = noise_image(image, -7, 40.0)
    assert time.perf_counter() - start < 2.0                 # ~0.15 s compiled, minutes in Python
    assert abs(photons / image.size - 10.0) < 0.05


# ------------------------------------------------------------- an independent SMV reader

def test_fabio_reads_our_smv_files(tmp_path):
    args = CUBIC + ["-detpixels_f", "48", "-detpixels_s", "40", "-pixel", "0.172", "-seed", "9",
                    "-Xbeam", "3.1", "-Ybeam", "4.2", "-fluence", "1e31"]
    assert _cli(args, tmp_path)[0] == 0
    r = run(args)
    det = r.config.detector
    for name in ("intimage.img", "noiseimage.img"):
        ours = read_smv(tmp_path / name)
        for image in (fabio.open(str(tmp_path / name)),
                      fabio.adscimage.AdscImage().read(str(tmp_path / name))):
            np.testing.assert_array_equal(image.data, ours.data)
            assert image.data.shape == (40, 48) and image.data.any()
            h = image.header
            assert float(h["PIXEL_SIZE"]) == pytest.approx(0.172)
            assert float(h["DISTANCE"]) == pytest.approx(float(r.pre.detector.distance_m) * 1e3)
            assert float(h["WAVELENGTH"]) == pytest.approx(6.2)
            assert float(h["BEAM_CENTER_X"]) == pytest.approx(det.Xbeam_m * 1e3) == pytest.approx(3.1)
            assert float(h["BEAM_CENTER_Y"]) == pytest.approx(det.Ybeam_m * 1e3) == pytest.approx(4.2)


# ------------------------------------------------------------- -dump, .npy, PNG

def test_dump_written_with_hkl_and_read_alone(tmp_path):
    hkl = GOLDEN / "inputs" / "P1_pub_sparse.hkl"
    base = ["-cell", "70", "80", "90", "75", "85", "95", "-misset", "10", "20", "30", "-N", "5",
            "-lambda", "1.5", "-distance", "80", "-detpixels", "24", "-default_F", "7",
            "-nonoise", "-nopgm", "-intfile", "i.img"]
    assert _cli(base + ["-hkl", hkl, "-dump", "F.bin", "-floatfile", "a.bin"], tmp_path)[0] == 0
    table, dumped = read_hkl(hkl, 7.0), read_fdump(tmp_path / "F.bin")
    np.testing.assert_array_equal(dumped.F, table.F)
    head = b"%d %d %d %d %d %d\n\f" % (table.h_min, table.h_max, table.k_min, table.k_max,
                                       table.l_min, table.l_max)
    assert (tmp_path / "F.bin").read_bytes().startswith(head)
    status, out, _ = _cli(base + ["-dump", "F.bin", "-floatfile", "b.bin"], tmp_path)
    assert status == 0 and "reading Fs from F.bin" in out
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()


def test_no_implicit_fdump(tmp_path):
    """A stale Fdump.bin in the working directory is neither read nor written."""
    (tmp_path / "Fdump.bin").write_bytes(b"0 0 0 0 0 0\n\f" + b"\0" * 64)
    args = CUBIC + ["-detpixels", "16", "-nonoise", "-nopgm", "-floatfile", "f.bin"]
    assert _cli(args, tmp_path)[0] == 0
    assert np.fromfile(tmp_path / "f.bin", "<f4").max() > 0       # default_F 100, not F = 0
    status, _, err = _cli(["-cell", "100", "100", "100", "90", "90", "90", "-detpixels", "8"], tmp_path)
    assert status == 2 and "no structure factors" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Fdump.bin", "f.bin", "intimage.img"]


def test_npy_and_png_outputs(tmp_path):
    args = CUBIC + ["-detpixels", "40", "-nonoise", "-nopgm", "-npyfile", "x.npy",
                    "-pngfile", "x.png"]
    assert _cli(args, tmp_path)[0] == 0
    image = np.load(tmp_path / "x.npy")
    np.testing.assert_array_equal(image, np.fromfile(tmp_path / "floatimage.bin", "<f4")
                                  .reshape(40, 40))
    raw = (tmp_path / "x.png").read_bytes()
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = np.asarray(Image.open(tmp_path / "x.png").convert("RGB"))
    np.testing.assert_array_equal(decoded, preview_rgb(image))
    assert decoded.shape[0] == 240 and decoded.shape[1] > 240       # 40 px enlarged 6x + bar
    s, f = np.unravel_index(np.argmax(image), image.shape)
    assert tuple(decoded[s * 6, f * 6]) == TOP_COLOUR                 # the brightest pixel
    assert TOP_COLOUR in {tuple(c) for c in decoded[0, 240:]}         # top of the colour bar
    idat = raw[raw.index(b"IDAT") + 4:]
    assert zlib.decompressobj().decompress(idat)[:1] == b"\0"        # filter byte of row 0


def test_png_preview_shrinks_large_images_and_marks_nan():
    image = np.zeros((3000, 2000), np.float32)
    image[1234, 567] = 50.0
    image[:3, :3] = np.nan
    rgb = preview_rgb(image)
    assert rgb.shape[0] == 1000 and rgb.shape[1] > 667               # block maxima of 3x3
    assert tuple(rgb[411, 189]) == TOP_COLOUR and tuple(rgb[411, 190]) == (0, 0, 4)
    assert tuple(rgb[0, 0]) == (128, 128, 128)                       # an all-NaN block


# ------------------------------------------------------------- progress bar

class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_after_one_second_only():
    clock, stream = _Clock(), _Tty()
    bar = ProgressBar(stream, clock)
    clock.t = 0.5
    bar(10, 100)
    assert stream.getvalue() == ""
    clock.t = 2.0
    bar(50, 100)
    assert "50%" in stream.getvalue() and "2 s left" in stream.getvalue()
    clock.t = 2.05
    bar(60, 100)                                                  # throttled
    assert "60%" not in stream.getvalue()
    clock.t = 3.0
    bar(100, 100)
    bar.close()
    assert "100%" in stream.getvalue() and stream.getvalue().endswith("\n")


def test_progress_bar_only_on_a_terminal():
    assert progress_bar(True, _Tty()) is not None
    assert progress_bar(False, _Tty()) is None
    assert progress_bar(True, io.StringIO()) is None


def test_cli_progress_bar_on_stderr(tmp_path, monkeypatch):
    stream = _Tty()
    calls = []

    def fake_bar(enabled, s=stream):
        calls.append(enabled)
        return ProgressBar(s, clock=iter(range(0, 1000, 2)).__next__) if enabled else None

    monkeypatch.setattr(cli, "progress_bar", fake_bar)
    args = CUBIC + ["-detpixels", "64", "-nonoise", "-nopgm"]
    assert _cli(args, tmp_path)[0] == 0
    assert "rendering [" in stream.getvalue() and "100%" in stream.getvalue()
    assert _cli(args + ["-noprogress"], tmp_path)[0] == 0
    assert calls == [True, False]


# ------------------------------------------------------------- refusals, all-or-nothing output

def test_huge_detector_refused_up_front(tmp_path):
    start = time.perf_counter()
    status, _, err = _cli(CUBIC + ["-detpixels", "1000000"], tmp_path)
    assert status == 2 and time.perf_counter() - start < 5
    err = err.strip().splitlines()[-1]
    assert err.startswith("nanoBragg: error: -detpixels/-detsize: a 1000000x1000000-pixel "
                          "detector needs about 64 TB of memory")
    assert list(tmp_path.iterdir()) == []


def test_huge_auto_oversample_refused(tmp_path):
    """A 3 mm crystal: the C's auto oversample rule asks for ceil(3 x 3 mm / (lambda distance /
    pixel)) = 76924-fold sub-pixels, 6e9 steps in one pixel (fuzzing found 0.3 mm: 24 GB, then
    the OOM killer); refused once the oversample is known, before rendering."""
    args = ["-cell", "50", "60", "70", "90", "90", "90", "-default_F", "100", "-lambda", "1.3",
            "-distance", "90", "-detpixels", "32", "-sample_size", "3", "-beamsize", "3"]
    start = time.perf_counter()
    status, _, err = _cli(args, tmp_path)
    assert status == 2 and time.perf_counter() - start < 20
    assert "steps per pixel need about" in err.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_refused_before_rendering(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "run", lambda *a, **k: pytest.fail("rendered"))
    args = CUBIC + ["-detpixels", "8", "-intfile", "nodir/i.img"]
    status, _, err = _cli(args, tmp_path)
    assert status == 2 and "nodir/i.img: cannot write output file: directory" in err
    assert _cli(CUBIC + ["-detpixels", "8", "-floatfile", "."], tmp_path)[0] == 2
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_no_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise cli.NanoBraggError("noiseimage.img: cannot write output file: disk full")

    monkeypatch.setattr(cli, "noise_image", broken)
    status, _, err = _cli(CUBIC + ["-detpixels", "8", "-seed", "1", "-npyfile", "x.npy"], tmp_path)
    assert status == 2 and "disk full" in err
    assert list(tmp_path.iterdir()) == []                        # no partial or temporary file


def test_program_outputs_are_not_synced_but_durable_batches_are(tmp_path, monkeypatch):
    """The programs' files are renamed into place without fsync, as the C writes them (a
    -batch of 100 1024^2 renders would otherwise wait for 600 MB of synchronous writes); an
    `OutputBatch(durable=True)` (the default: the dataset runner's resumable files) syncs
    each file before its rename."""
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    status, _, err = _cli(CUBIC + "-detpixels 8 -floatfile f.bin -intfile i.img -nopgm".split(),
                          tmp_path)
    assert status == 0, err
    assert synced == [] and (tmp_path / "f.bin").stat().st_size == 8 * 8 * 4
    with OutputBatch() as batch:
        batch.add(tmp_path / "d.bin", b"1234")
        assert len(synced) == 1 and not (tmp_path / "d.bin").exists()
    assert (tmp_path / "d.bin").read_bytes() == b"1234"


@pytest.mark.parametrize("durable", [True, False])
def test_existing_files_are_replaced_atomically_only_by_durable_batches(durable, tmp_path, monkeypatch):
    """A durable batch renames over the existing file (atomic replacement); the programs'
    batches remove it first (ext4 would otherwise flush the new data at the rename), so the
    rename never lands on an existing file. Either way the new content is there and no
    temporary file is left."""
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    replaced_existing = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: replaced_existing.append(os.path.exists(b)) or real(a, b))
    with OutputBatch(durable=durable) as batch:
        batch.add(target, b"new")
        assert target.read_bytes() == b"old"                   # nothing changes before the commit
    assert replaced_existing == [durable]
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
