"""nearBragg's engine choice, in the style of `backends.select_backend`: ``torch`` (eager),
``triton`` (needs CUDA or ``TRITON_INTERPRET=1``; asking for it where it cannot run is an
error), ``auto`` (Triton on a CUDA device, else torch, with a log line).  Renders that need
gradients always use torch."""
from __future__ import annotations

import logging

from ..backends import _triton_unavailable, log_once
from ..errors import NanoBraggError
from . import engine

log = logging.getLogger("nanobrag_torch")


def _import_near_triton() -> None:
    from . import triton_backend  # noqa: F401


def select_amplitude(name: str, device: str, needs_grad: bool = False) -> tuple:
    """(backend name, amplitude function with the signature of `engine.amplitude`)."""
    if name == "torch":
        return "torch", engine.amplitude
    if needs_grad:
        log.info("backend %s: gradients requested, using the torch backend (autograd)", name)
        return "torch", engine.amplitude
    reason = _triton_unavailable(device, name == "triton", probe=_import_near_triton)
    if name == "triton" and reason:
        raise NanoBraggError(f"-backend triton: cannot run: {reason}")
    if reason is None:
        from . import triton_backend
        if name == "auto":
            log.info("backend auto: using triton on %s", device)
        return "triton", triton_backend.amplitude
    log_once("backend auto: using torch because %s", reason)
    return "torch", engine.amplitude
