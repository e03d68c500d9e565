"""Triton kernels of nanobrag-torch (Triton code only; imports nothing from nanobrag_torch).

`accumulate.accumulate_kernel` is the fused pixel accumulation; `aot` compiles its
variants ahead of time for CUDA targets (``python -m nanobrag_kernels.aot``).
"""
