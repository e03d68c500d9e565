"""`errors.exit_now` (the console scripts' exit): status kept, other threads finished, atexit
handlers run and buffered output flushed -- only the interpreter's teardown is skipped."""
from __future__ import annotations

import subprocess
import sys

PROBE = """
import atexit, sys, threading, time
from pathlib import Path
from nanobrag_torch.errors import console

def late_write():
    time.sleep(0.3)
    Path("thread.txt").write_text("done")

def main():
    threading.Thread(target=late_write).start()
    atexit.register(lambda: Path("atexit.txt").write_text("ran"))
    sys.stdout.write("buffered, no newline")
    return 3

console(main)()
print("not reached")
"""


def test_exit_now_keeps_status_threads_atexit_and_output(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 3
    assert done.stdout == "buffered, no newline"
    assert (tmp_path / "thread.txt").read_text() == "done"
    assert (tmp_path / "atexit.txt").read_text() == "ran"
