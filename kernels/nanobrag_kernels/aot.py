"""Ahead-of-time compilation of every accumulation-kernel variant for CUDA targets.

    python -m nanobrag_kernels.aot --arch sm_80 sm_90 [--kernel accumulate|nearbragg]

No GPU is needed: `triton.compile` lowers each variant for ``GPUTarget("cuda", cc, 32)``
down to a cubin with Triton's bundled ptxas.  One row per variant and architecture gives
the registers per thread, the spilled bytes (stores + loads, from the ptxas report of
that very compilation) and the shared memory; the exit status is 1 if any variant spills.
The last columns are the SASS instruction mix of the innermost loop (one pixel-step, per
thread): all instructions, FP32 and FP64 arithmetic (FFMA/FMUL/FADD, DFMA/DMUL/DADD),
special-function (MUFU) and global loads (LDG); reports/gpu_model.md builds on them.
The variants are the launch configurations of `accumulate.VARIANTS` (every value of every
compile-time flag, plus the heaviest combination) in float32 and float64, each with the
block size and warp count the launcher uses on a GPU.  The compilations run in ``--jobs``
worker processes (default: one per core; each is single-threaded LLVM and ptxas work),
rows printed in the fixed order.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

os.environ.pop("TRITON_INTERPRET", None)      # the interpreter cannot produce cubins

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.backends.nvidia.compiler import get_ptxas  # noqa: E402

from . import nearbragg  # noqa: E402
from .accumulate import (GPU_BLOCK, GPU_MAXNREG, GPU_WARPS, VARIANTS,  # noqa: E402
                         accumulate_kernel, signature)

# kernel name -> (jit function, signature(dtype), BLOCK, launch options, variants)
KERNELS = {
    "accumulate": (accumulate_kernel, signature, GPU_BLOCK, {"num_warps": GPU_WARPS, "maxnreg": GPU_MAXNREG}),
    "nearbragg": (nearbragg.near_amplitude_kernel, nearbragg.signature, nearbragg.GPU_BLOCK,
                  {"num_warps": nearbragg.GPU_WARPS}),
}
KERNEL_VARIANTS = {"accumulate": VARIANTS, "nearbragg": nearbragg.VARIANTS}

SPILL = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
REGISTERS = re.compile(r"Used (\d+) registers")
SASS_LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
BACK_BRANCH = re.compile(r"BRA (?:!?U?P\w+, )?0x([0-9a-f]+)")
MIX = {"fp32": ("FFMA", "FMUL", "FADD"), "fp64": ("DFMA", "DMUL", "DADD"), "mufu": ("MUFU",), "ldg": ("LDG",)}


def _capability(arch: str) -> int:
    m = re.fullmatch(r"sm_(\d+)a?", arch)
    if not m:
        raise SystemExit(f"aot: --arch expects names like sm_80, got {arch!r}")
    return int(m.group(1))


def loop_mix(cubin: bytes, capability: int) -> dict:
    """Instruction counts of the innermost loop (the smallest backward branch) of a cubin."""
    cuobjdump = os.path.join(os.path.dirname(get_ptxas(capability).path), "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        sass = subprocess.run([cuobjdump, "-sass", f.name], capture_output=True, text=True, check=True).stdout
    code = [(int(a, 16), text) for a, text in SASS_LINE.findall(sass)]
    loops = [(addr - int(m.group(1), 16), int(m.group(1), 16), addr) for addr, text in code
             if (m := BACK_BRANCH.search(text)) and int(m.group(1), 16) < addr]
    _, start, end = min(loops)
    ops = collections.Counter(re.sub(r"^@!?U?P\w+\s+", "", text).split()[0].split(".")[0]
                              for addr, text in code if start <= addr <= end)
    mix = {name: sum(ops[o] for o in opcodes) for name, opcodes in MIX.items()}
    return dict(mix, instructions=sum(ops.values()))


def compile_variant(constexprs: dict, dtype: str, capability: int, kernel_name: str = "accumulate") -> dict:
    """Compile one variant to a cubin: registers, spill and shared bytes, loop mix, seconds."""
    fn, sig, block, options = KERNELS[kernel_name]
    src = triton.compiler.ASTSource(
        fn=fn, signature=sig(dtype),
        constexprs=dict(constexprs, BLOCK=block),
        attrs={(i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names)
               if name.endswith("_ptr")})
    log = io.StringIO()
    start = time.perf_counter()
    with triton.knobs.nvidia.scope(), triton.knobs.compilation.scope(), contextlib.redirect_stdout(log):
        triton.knobs.nvidia.dump_ptxas_log = True     # ptxas -v report of this compilation
        triton.knobs.compilation.always_compile = True
        kernel = triton.compile(src, target=GPUTarget("cuda", capability, 32), options=options)
    text = log.getvalue()
    spills = SPILL.search(text)
    regs = REGISTERS.search(text)
    if spills is None or regs is None or not kernel.asm.get("cubin"):
        raise RuntimeError(f"aot: no cubin or no ptxas report for {constexprs} {dtype}:\n{text}")
    return dict(loop_mix(kernel.asm["cubin"], capability), registers=int(regs.group(1)),
                spill_bytes=int(spills.group(1)) + int(spills.group(2)),
                shared_bytes=int(kernel.metadata.shared), seconds=time.perf_counter() - start)


def _compile_job(kernel_name: str, job: tuple) -> dict:
    """`compile_variant` of one (variant name, dtype, arch, capability) job (a worker's task)."""
    name, dtype, _, cc = job
    return compile_variant(KERNEL_VARIANTS[kernel_name][name], dtype, cc, kernel_name)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nanobrag_kernels.aot", description=__doc__.split("\n")[0])
    parser.add_argument("--arch", nargs="+", default=["sm_80", "sm_90"], help="e.g. sm_80 sm_90")
    parser.add_argument("--kernel", choices=sorted(KERNELS), default="accumulate",
                        help="accumulate (nanoBragg, default) or nearbragg")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per core)")
    args = parser.parse_args(argv)
    caps = [(a, _capability(a)) for a in args.arch]
    _, _, block, options = KERNELS[args.kernel]
    print(f"triton {triton.__version__}; kernel {args.kernel} BLOCK={block} "
          + " ".join(f"{k}={v}" for k, v in options.items()))
    print(f"{'variant':<22} {'dtype':<8} {'arch':<6} {'regs':>5} {'spill_B':>8} {'shared_B':>9} "
          f"{'loop':>5} {'fp32':>5} {'fp64':>5} {'mufu':>5} {'ldg':>4} {'s':>5}")
    jobs = [(name, dtype, arch, cc) for arch, cc in caps for dtype in ("float32", "float64")
            for name in KERNEL_VARIANTS[args.kernel]]
    compile_one = functools.partial(_compile_job, args.kernel)
    spilled = 0
    with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, len(jobs))),
                             mp_context=get_context("spawn")) as pool:
        for (name, dtype, arch, _), r in zip(jobs, pool.map(compile_one, jobs)):
            spilled += r["spill_bytes"] > 0
            print(f"{name:<22} {dtype:<8} {arch:<6} {r['registers']:>5} {r['spill_bytes']:>8} "
                  f"{r['shared_bytes']:>9} {r['instructions']:>5} {r['fp32']:>5} {r['fp64']:>5} "
                  f"{r['mufu']:>5} {r['ldg']:>4} {r['seconds']:>5.1f}", flush=True)
    if spilled:
        print(f"aot: {spilled} variant(s) spill registers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
