"""-printout / -printout_pixel: our trace against nanoBragg.c's own printout (tests/trace_cases.json,
captured from the C program) and against the rendered image."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli_util import eager_engine, run_cli  # noqa: F401  (autouse fixture)
from golden_util import GOLDEN

CASES = json.loads((Path(__file__).parent / "trace_cases.json").read_text())["cases"]
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf")
BLOCK_START = re.compile(r"^\s*\d+\s+\d+ : stol")


def _run(args: list, cwd: Path) -> tuple[int, list, str]:
    status, out, err, _ = run_cli(args + ["-nonoise", "-nopgm", "-floatfile", "f.bin", "-intfile",
                                          "i.img"], cwd)
    return status, out.splitlines(), err


def _blocks(lines: list) -> list:
    starts = [i for i, line in enumerate(lines) if BLOCK_START.match(line)]
    return [lines[i:i + 14] for i in starts]


def _same(c_line: str, our_line: str, rel: float = 1e-6) -> bool:
    """Same text around the numbers, numbers equal to the printed precision."""
    if NUMBER.sub("#", c_line).split() != NUMBER.sub("#", our_line).split():
        return False
    pairs = zip(NUMBER.findall(c_line), NUMBER.findall(our_line))
    return all(abs(float(a) - float(b)) <= rel * max(abs(float(a)), abs(float(b))) + 1e-9
               for a, b in pairs)


@pytest.mark.parametrize("name", list(CASES))
def test_trace_matches_c_printout(name, tmp_path):
    args = CASES[name]["args"].replace("inputs/", f"{GOLDEN / 'inputs'}/").split()
    status, lines, _ = _run(args + ["-dtype", "float64"], tmp_path)
    assert status == 0
    [ours] = _blocks(lines)
    for c_line, our_line in zip(CASES[name]["c_printout"], ours, strict=True):
        assert _same(c_line, our_line), (c_line, our_line)
    extra = lines[lines.index(ours[-1]) + 1:]
    assert extra[0].startswith("# airpath") and extra[3].startswith("# steps")


def test_trace_recomputes_the_rendered_pixel(tmp_path):
    """The trace's own photon count equals the engine's pixel (c mode, oversampled quirks)."""
    args = CASES["oversample_flags"]["args"].split() + ["-dtype", "float64"]
    status, lines, _ = _run(args, tmp_path)
    pixel = float(next(line for line in lines if line.startswith("pixel")).split()[1])
    photons = float(next(line for line in lines if line.startswith("# steps")).split()[-1])
    assert status == 0 and photons == pytest.approx(pixel, rel=1e-7)


def test_printout_alone_traces_every_rendered_pixel(tmp_path):
    args = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 " \
           "-detpixels 16 -roi 2 4 5 6 -printout"
    status, lines, _ = _run(args.split(), tmp_path)
    blocks = _blocks(lines)
    assert status == 0 and len(blocks) == 3 * 2
    assert [tuple(int(v) for v in b[0].split()[:2]) for b in blocks][:4] == [(2, 5), (3, 5), (4, 5), (2, 6)]
    solid = next(i for i, line in enumerate(lines) if line.startswith("solid angle"))
    assert solid > lines.index(blocks[-1][0])            # traces print before the summary, as the C


def test_printout_pixel_outside_the_detector_is_an_error(tmp_path):
    args = "-cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -detpixels 8 -printout_pixel 8 0"
    status, _, err = _run(args.split(), tmp_path)
    assert status == 2 and "-printout_pixel: pixel 8 0 is outside the 8x8 detector" in err
    assert list(tmp_path.iterdir()) == []
