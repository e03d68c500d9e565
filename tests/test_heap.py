"""`heap.keep_freed_memory`: large freed blocks stay in the process (no re-faulting of every
large temporary), and every command-line program sets it up through `errors.run_command`."""
from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import numpy as np
from nanobrag_torch import errors, heap

def rss_mb():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "keep":
    assert heap.keep_freed_memory()
elif sys.argv[1] == "public":
    import nanobrag_torch
    assert nanobrag_torch.keep_freed_memory()
elif sys.argv[1] == "cli":
    errors.run_command("probe", ["x"], lambda argv: 0)
before = rss_mb()
block = np.ones(200 * 2**20 // 8)          # 200 MB, above glibc's default mmap threshold
del block
print(rss_mb() - before)
"""


def _kept_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.split()[-1])


def test_freed_block_stays_in_the_heap_only_when_asked():
    assert _kept_mb("default") < 20              # glibc unmaps it: the pages are re-faulted next time
    assert _kept_mb("keep") > 150                # kept: the next temporary reuses faulted pages
    assert _kept_mb("cli") > 150                 # every CLI frame sets it up
    assert _kept_mb("public") > 150              # a script opts in through the package


# MB still resident after a 200 MB block is freed, evaluated in a worker process
KEPT_EXPR = ("(lambda rss: (lambda before: (lambda block: None)(__import__('numpy').ones(200 * 2**20 // 8))"
             " or rss() - before)(rss()))(lambda: int(open('/proc/self/statm').read().split()[1])"
             " * 4096 / 2**20)")


def test_dataset_local_cluster_workers_keep_freed_memory():
    from nanobrag_torch.dataset.job import _local_client
    client, cluster = _local_client(1)
    try:
        kept = list(client.run(eval, KEPT_EXPR).values())
    finally:
        client.close()
        cluster.close()
    assert len(kept) == 1 and kept[0] > 150
