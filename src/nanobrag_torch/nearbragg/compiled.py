"""nearBragg's compiled pixel x atom block: `engine.relative_block` exported and compiled by
AOTInductor (one fused, vectorised, OpenMP-parallel loop nest instead of ~12 eager passes),
cached on disk like the spots kernel (`backends.compile_policy`: same cache directory,
CPU-identity and kernel-source keys, same ``NANOBRAG_COMPILE`` switch: ``0`` never, ``1``
always, ``auto`` when a render has at least `COMPILE_MIN_TERMS` pixel-atom terms or a
package already exists).  Building takes ~20-60 s once; loading takes milliseconds.
Renders that need gradients, and float64 ``-quirks c`` (the C's own sequence), stay eager.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch

from ..backends.compile_policy import _cpu_identity, _load, cache_dir
from . import engine

log = logging.getLogger("nanobrag_torch")

COMPILE_MIN_TERMS = 1 << 27
BLOCK_TERMS = 1 << 22            # pixel x atom terms per compiled call
_loaded: dict = {}


class _Block(torch.nn.Module):
    def __init__(self, with_B: bool):
        super().__init__()
        self.with_B = with_B

    def forward(self, p, pp, pn, a, aa, w, phi, k, B, S0, inv_lam_A):
        return engine.relative_terms(p, pp, pn, a, aa, w, phi, k,
                                     B if self.with_B else None, S0, inv_lam_A)


def _path(dtype: torch.dtype, with_B: bool) -> Path:
    source = Path(engine.__file__).read_bytes() + Path(__file__).read_bytes()
    ident = repr((torch.__version__, _cpu_identity(), hashlib.sha256(source).hexdigest(),
                  str(dtype), with_B))
    return cache_dir() / f"nearbragg_{hashlib.sha256(ident.encode()).hexdigest()[:20]}.pt2"


def _example(dtype, n: int = 64, m: int = 64) -> tuple:
    f = dict(dtype=dtype)
    return (torch.ones(n, 3, **f), torch.ones(n, **f), torch.ones(n, **f), torch.ones(m, 3, **f),
            torch.ones(m, **f), torch.ones(m, **f), torch.ones(m, **f), torch.ones((), **f),
            torch.ones(m, **f), torch.ones(m, 3, **f), torch.ones((), **f))


def _build(dtype, with_B: bool, path: Path) -> None:
    from torch.export import Dim, export
    n, m = Dim("n", min=2), Dim("m", min=2)
    shapes = ({0: n}, {0: n}, {0: n}, {0: m}, {0: m}, {0: m}, {0: m}, None, {0: m}, {0: m}, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        warnings.simplefilter("ignore", FutureWarning)
        program = export(_Block(with_B), _example(dtype), dynamic_shapes=shapes)
        tmp_path = Path(tmp) / path.name
        torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path))
        os.replace(tmp_path, path)


def compiled_block(dtype, with_B: bool, terms: int):
    """A function with `engine.relative_terms`' signature running the compiled package, or
    None (eager) when compiling is off, not worth it, or fails (logged once)."""
    mode = os.environ.get("NANOBRAG_COMPILE", "auto")
    path = _path(dtype, with_B)
    if mode == "0" or (mode == "auto" and terms < COMPILE_MIN_TERMS and not path.exists()):
        return None
    key = str(path)
    if key not in _loaded:
        try:
            if not path.exists():
                log.info("compiling the nearBragg kernel (once; cached in %s)", path.parent)
                _build(dtype, with_B, path)
            _loaded[key] = _load(path)
        except Exception as exc:  # no compiler, export limits: eager, loudly
            log.warning("compiled nearBragg kernel unavailable (%s: %s); using eager torch",
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            _loaded[key] = None
    runner = _loaded[key]
    if runner is None:
        return None

    def block(p, pp, pn, a, aa, w, phi, k, B, S0, inv_lam_A):
        one = p.new_ones(())
        B = B if B is not None else w
        S0 = S0 if S0 is not None else a
        fa, fb = runner(p.contiguous(), pp.contiguous(), [
            pn.contiguous(), a.contiguous(), aa.contiguous(), w.contiguous(), phi.contiguous(), one * k,
            B.contiguous(), S0.contiguous(), one * inv_lam_A])
        return fa, fb
    return block
