"""nearBragg's compiled pixel x atom block: `engine.relative_terms` exported and compiled by
AOTInductor (one fused, vectorised, OpenMP-parallel loop nest instead of ~12 eager passes),
cached on disk by the same cache layer as the spots kernel (`backends.aot_cache`: cache
directory, CPU-identity and kernel-source keys, a corrupt package moved aside and rebuilt, a
failed build recorded in ``.failed``) and the same ``NANOBRAG_COMPILE`` switch: ``0`` never;
``1`` build now, in this process, and use it; ``auto`` use a package that exists, and for a
render of at least `COMPILE_MIN_TERMS` pixel-atom terms start a background build and render
eagerly meanwhile, switching to the package between blocks as soon as it appears (so no
render waits for a build).  Building takes ~20-60 s once; loading takes milliseconds.
Renders that need gradients, and float64 ``-quirks c`` (the C's own sequence), stay eager.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path

import torch

from ..backends import aot_cache
from . import engine

log = logging.getLogger("nanobrag_torch")

COMPILE_MIN_TERMS = 1 << 27
BLOCK_TERMS = 1 << 22            # pixel x atom terms per compiled call
BUILDER = "nanobrag_torch.nearbragg.compiled:build_package"


class _Block(torch.nn.Module):
    def __init__(self, with_B: bool):
        super().__init__()
        self.with_B = with_B

    def forward(self, p, pp, pn, a, aa, w, phi, k, B, S0, inv_lam_A):
        return engine.relative_terms(p, pp, pn, a, aa, w, phi, k,
                                     B if self.with_B else None, S0, inv_lam_A)


@functools.cache
def _code_identity() -> str:
    """The block's source (engine and this module), read once per process."""
    source = Path(engine.__file__).read_bytes() + Path(__file__).read_bytes()
    return hashlib.sha256(source).hexdigest()


def _path(dtype: torch.dtype, with_B: bool) -> Path:
    ident = repr((torch.__version__, aot_cache.build_identity(), _code_identity(), str(dtype), with_B))
    return aot_cache.cache_dir() / f"nearbragg_{hashlib.sha256(ident.encode()).hexdigest()[:20]}.pt2"


def build_package(variant: tuple, path: Path) -> None:
    """Export and AOT-compile the block for `variant` = (dtype name, with_B) into `path`
    (dynamic pixel and atom counts); also the background builder (`aot_cache.start_build`)."""
    from torch.export import Dim
    dtype, with_B = getattr(torch, variant[0]), variant[1]
    n, m = Dim("n", min=2), Dim("m", min=2)
    shapes = ({0: n}, {0: n}, {0: n}, {0: m}, {0: m}, {0: m}, {0: m}, None, {0: m}, {0: m}, None)
    f, n0, m0 = dict(dtype=dtype), 64, 64
    example = (torch.ones(n0, 3, **f), torch.ones(n0, **f), torch.ones(n0, **f),
               torch.ones(m0, 3, **f), torch.ones(m0, **f), torch.ones(m0, **f), torch.ones(m0, **f),
               torch.ones((), **f), torch.ones(m0, **f), torch.ones(m0, 3, **f), torch.ones((), **f))
    aot_cache.compile_package(_Block(with_B), example, shapes, path)


def _compiled(runner, p, pp, pn, a, aa, w, phi, k, B, S0, inv_lam_A):
    """Run the compiled block (every input a contiguous tensor)."""
    one = p.new_ones(())
    return runner(p.contiguous(), pp.contiguous(), [
        pn.contiguous(), a.contiguous(), aa.contiguous(), w.contiguous(), phi.contiguous(),
        one * k, (B if B is not None else w).contiguous(),
        (S0 if S0 is not None else a).contiguous(), one * inv_lam_A])


def compiled_block(dtype, with_B: bool, terms: int):
    """A function with `engine.relative_terms`' signature running the compiled package (or,
    while a background build runs, eager until the package appears), or None (eager) when
    compiling is off, not worth it, or failed (logged)."""
    mode = os.environ.get("NANOBRAG_COMPILE", "auto")
    if mode == "0":
        return None
    path = _path(dtype, with_B)
    if aot_cache.runner(path) is None:
        reason = aot_cache.failed(path)
        if reason:
            log.info("no compiled nearBragg kernel (build failed: %s; remove %s to retry); "
                     "using eager torch", reason, path.with_suffix(".failed"))
            return None
        variant = (str(dtype).removeprefix("torch."), with_B)
        if mode == "1" and not aot_cache.wait(path):
            log.info("compiling the nearBragg kernel (once; cached in %s)", path.parent)
            try:
                aot_cache.build_now(path, lambda p: build_package(variant, p))
            except Exception as exc:  # no compiler, export limits: eager, loudly
                log.warning("compiled nearBragg kernel unavailable (%s: %s); using eager torch",
                            type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        elif mode == "auto" and terms >= COMPILE_MIN_TERMS:
            aot_cache.start_build(path, variant, BUILDER)
    if aot_cache.runner(path) is None and not aot_cache.building(path):
        return None
    return aot_cache.switching(path, _compiled, engine.relative_terms)
