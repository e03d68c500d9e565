"""Provenance stamp for benchmark and profiling results: git revision, versions, CPU."""
from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stamp() -> dict:
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = "absent"
    return {"git": git_revision(), "torch": torch.__version__, "triton": triton_version,
            "numpy": np.__version__, "python": platform.python_version(), "cpu": cpu_model(),
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def stamp_line() -> str:
    s = stamp()
    return ", ".join(f"{k} {v}" for k, v in s.items())
