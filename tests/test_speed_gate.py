"""The speed gate's re-attempt path (`bench.regression`): it measures in a new process."""
from __future__ import annotations

import subprocess

from bench import regression


def test_reattempt_measures_in_a_new_process(monkeypatch):
    seen, run = {}, subprocess.run

    def spy(cmd, **kw):
        seen["cmd"] = cmd
        return run(cmd, **kw)
    monkeypatch.setattr(subprocess, "run", spy)
    got = regression._measure_in_new_process(["ci_W1"], 1.0)
    assert seen["cmd"][1:5] == ["-m", "bench.regression", "--measure", "ci_W1"]
    assert seen["cmd"][-2:] == ["--slowdown", "1.0"]
    case = got["cases"]["ci_W1"]
    assert 0 < case["seconds"] < 5 and got["calibration_s"] > 0
    assert abs(case["normalised"] - case["seconds"] / got["calibration_s"]) < 1e-12
