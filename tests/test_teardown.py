"""`teardown`: a host process's exit collects the garbage that exists at exit, then freezes
the objects still alive so the interpreter's teardown does not walk them again."""
from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))   # runs last
import nanobrag_torch

class Node:
    def __del__(self):
        print("cycle finalized")

n = Node()
n.me = n                 # a garbage cycle that exists when the process exits
del n
gc.disable()             # so that only the exit handler can collect it
"""


def _run(env: dict) -> list:
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**os.environ, **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.split("\n")


def test_exit_collects_garbage_then_freezes():
    lines = _run({})
    assert lines.index("cycle finalized") < lines.index("frozen at exit: True")


def test_opt_out_keeps_the_interpreters_teardown():
    lines = _run({"NANOBRAG_EXIT_FREEZE": "0"})
    assert "frozen at exit: False" in lines
    assert "cycle finalized" in lines          # by the interpreter's own teardown
