"""``nanoBragg -batch FILE``: one run per line in one process; a failing line is reported with
its line number and the others still run; exit status 2 if any failed."""
from __future__ import annotations

import numpy as np

from cli_util import eager_engine, run_cli  # noqa: F401  (fixture)

BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 16"


def test_batch_runs_every_line_and_reports_the_failing_one(tmp_path):
    lines = ["# three orientations and one bad line", "",
             f"{BASE} -misset 10 20 30 -floatfile a.bin -nopgm -nonoise",
             f"{BASE} -misset 5 0 0 -floatfile 'b c.bin' -nopgm -nonoise",
             f"{BASE} -no_such_flag 1 -floatfile bad.bin",
             f"   {BASE} -misset 0 0 45 -floatfile d.bin -nopgm -nonoise"]
    (tmp_path / "runs.txt").write_text("\n".join(lines) + "\n")
    status, out, err, _ = run_cli(["-batch", "runs.txt"], tmp_path)
    assert status == 2
    assert "runs.txt line 5:" in err and "-no_such_flag" in err
    assert "1 of 4 runs in runs.txt failed (lines 5)" in err
    assert not (tmp_path / "bad.bin").exists()
    written = [out.index(f"writing {name} as") for name in ("a.bin", "b c.bin", "d.bin")]
    assert written == sorted(written)           # summaries in line order (written on a thread)
    for name, misset in (("a.bin", "10 20 30"), ("b c.bin", "5 0 0"), ("d.bin", "0 0 45")):
        single = tmp_path / "single"
        single.mkdir(exist_ok=True)
        args = f"{BASE} -misset {misset} -floatfile one.bin -nopgm -nonoise".split()
        assert run_cli(args, single)[0] == 0
        np.testing.assert_array_equal(np.fromfile(tmp_path / name, "<f4"),
                                      np.fromfile(single / "one.bin", "<f4"))


def test_batch_all_good_exits_zero_and_bad_usage_is_an_error(tmp_path):
    (tmp_path / "ok.txt").write_text(f"{BASE} -floatfile x.bin -nopgm -nonoise\n")
    assert run_cli(["-batch", "ok.txt"], tmp_path)[0] == 0
    status, _, err, _ = run_cli(["-batch", "ok.txt", "-N", "3"], tmp_path)
    assert status == 2 and "-batch FILE takes no other flags" in err
    status, _, err, _ = run_cli(["-batch", "missing.txt"], tmp_path)
    assert status == 2 and "missing.txt" in err and "cannot read" in err


def test_batch_failure_while_writing_is_reported_with_its_line_and_order_kept(tmp_path, capsys):
    from nanobrag_torch.batch import run_batch
    from nanobrag_torch.errors import NanoBraggError
    (tmp_path / "runs.txt").write_text("one\ntwo\nthree\nfour\n")

    def start(args):
        if args == ["three"]:
            raise NanoBraggError("bad flags")
        def finish():
            if args == ["two"]:
                raise NanoBraggError("cannot write")
            print(f"finished {args[0]}")
        return finish
    assert run_batch(str(tmp_path / "runs.txt"), start) == 2
    captured = capsys.readouterr()
    assert captured.out.split() == ["finished", "one", "finished", "four"]
    assert captured.err.index("line 2: cannot write") < captured.err.index("line 3: bad flags")
    assert "2 of 4 runs" in captured.err and "(lines 2, 3)" in captured.err


def test_batch_prints_the_sequential_statistics_without_numba(tmp_path):
    """-batch imports no numba for its outputs (its start-up cost a batch ~0.5 s), and each
    line prints the mean, rms and rmsd text of the C's sequential sums over its float image
    (`printed_stats`; `noise.image_stats` exact)."""
    import subprocess
    import sys

    from nanobrag_torch.noise import image_stats
    probe = ("import sys\nfrom nanobrag_torch import cli\nstatus = cli.main(['-batch', sys.argv[1]])\n"
             "print('numba' in sys.modules, status)\n")
    lines = [f"{BASE} -misset {k} 2 3 -floatfile {k}.bin -nopgm -nonoise -noprogress" for k in range(3)]
    (tmp_path / "runs.txt").write_text("\n".join(lines) + "\n")
    proc = subprocess.run([sys.executable, "-c", probe, "runs.txt"], cwd=tmp_path, capture_output=True,
                          text=True, env={**__import__("os").environ, "NANOBRAG_COMPILE": "0"})
    out = proc.stdout.strip().splitlines()
    assert out[-1] == "False 0", proc.stderr[-500:]
    printed = [line for line in out if line.startswith("mean=")]
    assert len(printed) == 3
    for k, line in enumerate(printed):
        image = np.fromfile(tmp_path / f"{k}.bin", "<f4").reshape(16, 16)
        _, _, mean, rms, rmsd = image_stats(image)
        assert line == "mean= %g rms= %g rmsd= %g" % (mean, rms, rmsd)


def test_batch_renders_run_ahead_of_a_slow_finish(tmp_path):
    """Later lines render while an earlier line's files are still being written (up to
    `LOOKAHEAD` lines): line 1's finishing part waits for line `LOOKAHEAD` to have rendered."""
    import threading

    from nanobrag_torch.batch import LOOKAHEAD, run_batch
    assert LOOKAHEAD >= 2
    (tmp_path / "runs.txt").write_text("\n".join(str(k) for k in range(1, 6)) + "\n")
    rendered, seen = threading.Event(), []

    def start(args):
        if args == [str(LOOKAHEAD)]:
            rendered.set()
        def finish():
            if args == ["1"]:
                seen.append(rendered.wait(timeout=10))
        return finish
    assert run_batch(str(tmp_path / "runs.txt"), start) == 0
    assert seen == [True]


def test_batch_lines_split_as_the_shell_does():
    """`batch._split` (a fast path without quotes) gives shlex's words."""
    import shlex

    from nanobrag_torch.batch import _split
    for line in ["-a 1  -b\t2 -c x.bin", "-floatfile 'b c.bin' -x", 'a "b c"', r"a\ b c", "a #b c",
                 "a\u00a0b c", "a\x0bb", "  ", "a b\r\n", "a\x1cb"]:
        assert _split(line) == shlex.split(line), line
