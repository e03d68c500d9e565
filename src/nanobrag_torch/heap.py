"""Keep freed memory in the process heap instead of returning it to the kernel.

glibc serves blocks above ``M_MMAP_THRESHOLD`` (dynamic, 128 KB to 32 MB) with a fresh
``mmap`` and gives them back on free, so every large torch temporary of a render is faulted
in page by page again: the speed gate's eager ci_W3 case took 80-87 ms with the heap kept
and 113-157 ms without, by process; a script's compiled W4 shots (1024^2, one step per
pixel) took ~9 ms with the heap kept and ~20-24 ms without, the difference system time and
page faults (`reports/heap.md`, ``python -m bench.heap``).  `keep_freed_memory()` raises the mmap and
trim thresholds to 1 GB; it is called by the command-line frame (`errors.run_command`) and
the speed gate, and offered to scripts as ``nanobrag_torch.keep_freed_memory()``, never
called on import (a library must not change its host's allocator).
"""
from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; True when both were set (False on a C
    library without ``mallopt``, where nothing changes)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt      # the C library already loaded
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) & bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
