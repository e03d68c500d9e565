"""The Triton interpreter suite (its own pytest process, see tests/run.sh).

TRITON_INTERPRET must be set before `triton.jit` decorates the kernels, i.e. before
anything imports `nanobrag_kernels`; pytest imports this file before the test modules.
The eager reference runs without torch.compile (its warm-up would dominate tiny renders).
"""
import os

os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("NANOBRAG_COMPILE", "0")
