import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The Triton suites need their own pytest processes (the interpreter is chosen when the
# kernels are decorated; the AOT build must run without it): tests/run.sh runs them.
collect_ignore = ["triton_interp", "triton_compile"]

# Tests run the torch kernels eagerly (deterministic, no compile time); the compiled path
# has its own test (tests/test_compiled.py).
import os  # noqa: E402

os.environ.setdefault("NANOBRAG_COMPILE", "0")

# Compiled kernel packages built by the tests go to a per-run cache, not the user's.
import tempfile  # noqa: E402

os.environ.setdefault("NANOBRAG_CACHE", tempfile.mkdtemp(prefix="nanobrag_cache_"))
