"""Shared helpers for the golden parity suites: manifest, metrics, tolerances."""
from __future__ import annotations

import json
import os
import re
import tomllib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
ROOT = HERE.parent
TOL = tomllib.loads((ROOT / "specs" / "tolerances.toml").read_text())


def manifest() -> dict:
    return json.loads((GOLDEN / "manifest.json").read_text())


def cases() -> list:
    return manifest()["cases"]


def large_cases() -> list:
    return json.loads((GOLDEN / "large" / "manifest.json").read_text())["cases"]


@contextmanager
def in_golden_dir():
    """The case arguments name files as inputs/...; run from the golden directory."""
    old = os.getcwd()
    os.chdir(GOLDEN)
    try:
        yield
    finally:
        os.chdir(old)


def parity(ours: np.ndarray, ref: np.ndarray) -> tuple:
    """(Pearson correlation, sum ratio, max |diff| / max |ref|) in float64."""
    a = np.asarray(ours, np.float64).ravel()
    b = np.asarray(ref, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        corr = 1.0 if np.allclose(a, b, rtol=1e-6, atol=0) else 0.0
    else:
        corr = float(np.corrcoef(a, b)[0, 1])
    ratio = float(a.sum() / b.sum()) if b.sum() != 0 else float(a.sum() == 0)
    scale = np.abs(b).max() or 1.0
    return corr, ratio, float(np.abs(a - b).max() / scale)


def passes(corr: float, ratio: float, dtype: str) -> bool:
    t = TOL["parity"][dtype]
    return corr >= t["min_correlation"] and abs(ratio - 1) <= t["max_abs_sum_ratio_error"]


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def numbers(text) -> list:
    if isinstance(text, list):
        return [float(x) for x in text]
    return [float(x) for x in NUMBER.findall(str(text))]
