"""Backend selection: the one place that decides which accumulation engine runs.

`select_backend(name, device)` returns the accumulate function.  ``torch`` is the
eager reference (any device).  ``triton`` needs a CUDA device, or ``TRITON_INTERPRET=1``
(set before Triton is first imported) for the interpreter on CPU tensors; asking for it
explicitly when it cannot run is an error.  ``auto`` picks Triton on a CUDA device when
it imports (never the slow interpreter) and otherwise torch, with a log line saying why.
"""
from __future__ import annotations

import logging
import os

from ..errors import NanoBraggError

log = logging.getLogger("nanobrag_torch")


def _import_spots_triton() -> None:
    from . import triton as triton_backend  # noqa: F401


def _triton_unavailable(device: str, interpreter_ok: bool, probe=_import_spots_triton) -> str | None:
    """Why the Triton backend cannot run here, or None if it can (`probe` imports the
    backend module in question; ImportError means unavailable)."""
    interpret = interpreter_ok and os.environ.get("TRITON_INTERPRET") == "1"
    if device != "cuda" and not interpret:
        needs = "CUDA, or TRITON_INTERPRET=1" if interpreter_ok else "CUDA"
        return f"device is {device} (Triton needs {needs})"
    try:
        probe()
    except ImportError as exc:
        return f"Triton backend not importable ({exc})"
    return None


_LOGGED: set = set()


def log_once(message: str, *args) -> None:
    """Log an info line once per process (a -batch file renders many lines alike)."""
    text = message % args
    if text not in _LOGGED:
        _LOGGED.add(text)
        log.info(text)


def select_backend(name: str, device: str, needs_grad: bool = False):
    """Return (backend_name, accumulate_fn).  A render whose parameters require gradients
    always runs on the torch backend (the Triton kernel has no backward pass), logged."""
    from . import torch_eager
    if name == "torch":
        return "torch", torch_eager.accumulate
    if needs_grad:
        log.info("backend %s: gradients requested, using the torch backend (autograd)", name)
        return "torch", torch_eager.accumulate
    reason = _triton_unavailable(device, interpreter_ok=name == "triton")
    if name == "triton":
        if reason:
            raise NanoBraggError(f"-backend triton: cannot run: {reason}")
        from . import triton as triton_backend
        return "triton", triton_backend.accumulate
    if reason is None:
        from . import triton as triton_backend
        log.info("backend auto: using triton on %s", device)
        return "triton", triton_backend.accumulate
    log_once("backend auto: using torch because %s", reason)
    return "torch", torch_eager.accumulate
