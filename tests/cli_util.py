"""Shared helpers for the command-line tests: run `main` in a directory, keep the engine eager."""
from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from nanobrag_torch.cli import main


@pytest.fixture(autouse=True, scope="module")
def eager_engine():
    """Many small renders in one process: no torch.compile warm-up (NANOBRAG_COMPILE=0)."""
    old = os.environ.get("NANOBRAG_COMPILE")
    os.environ["NANOBRAG_COMPILE"] = "0"
    yield
    if old is None:
        del os.environ["NANOBRAG_COMPILE"]
    else:
        os.environ["NANOBRAG_COMPILE"] = old


def run_cli(args, cwd: Path, after=None, program=main) -> tuple:
    """program(args) (default: nanoBragg's main) run in `cwd`: (exit status, stdout, stderr,
    after(status) evaluated in `cwd` or None).  stderr holds what it prints (logging keeps its
    own stream)."""
    old, out, err = os.getcwd(), io.StringIO(), io.StringIO()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = program([str(a) for a in args])
            extra = after(status) if after is not None else None
    finally:
        os.chdir(old)
    return status, out.getvalue(), err.getvalue(), extra
