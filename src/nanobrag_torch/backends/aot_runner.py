"""Run an AOTInductor package's model without holding the GIL.

torch's package loader (``torch._C._aoti.AOTIModelPackageLoader.run``) keeps the GIL for
the whole kernel call, so while a compiled render runs no other Python thread of the
process moves: ``-batch`` writes a line's files on a thread while the next line renders,
and that thread waited for every kernel call (measured on W4, 1024^2: a Python thread ran
at 28 % of its speed beside the loader's calls, 66 % beside these).  Here the model's
shared library is opened with ctypes and called through the AOTInductor C interface
(``AOTInductorModelContainerCreateWithDevice`` / ``...Run``); ctypes releases the GIL for
the call.  Tensors cross as the interface's handles, made and taken back by torch's own
helpers (``unsafe_alloc_void_ptrs_from_tensors``, ``alloc_tensors_by_stealing_from_void_ptrs``).

Packages here hold one CPU model with no constants (the fused kernels take every value as
an input); `open_package` refuses anything else, and the caller treats that like a corrupt
package.
"""
from __future__ import annotations

import ctypes
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule = ctypes.pythonapi.PyCapsule_New
_capsule.restype = ctypes.py_object
_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


def _model_library(path: Path) -> ctypes.CDLL:
    """The package's model library, opened (extracted to a temporary directory, removed
    once open: the mapping stays)."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith(".so")]
        if len(names) != 1:
            raise ValueError(f"expected one model library, found {names}")
        tmp = tempfile.mkdtemp(prefix="nanobrag_aoti_")
        try:
            return ctypes.CDLL(archive.extract(names[0], tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def open_package(path: Path):
    """``run(tensors) -> tuple of tensors`` for the package at `path` (raises when it cannot
    be opened: corrupt zip, missing library, an interface error)."""
    lib = _model_library(path)
    container, outputs, constants = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_size_t()
    if lib.AOTInductorModelContainerCreateWithDevice(ctypes.byref(container), ctypes.c_size_t(1),
                                                     b"cpu", None):
        raise RuntimeError(f"{path.name}: the model container could not be created")
    if (lib.AOTInductorModelContainerGetNumOutputs(container, ctypes.byref(outputs))
            or lib.AOTInductorModelContainerGetNumConstants(container, ctypes.byref(constants))):
        raise RuntimeError(f"{path.name}: the model's outputs or constants could not be counted")
    if constants.value:        # torch's loader would fill them from the package; this does not
        raise ValueError(f"{path.name}: the model has {constants.value} constants")
    call, n_out = lib.AOTInductorModelContainerRun, outputs.value

    def run(tensors: list) -> tuple:
        handles = torch._C._aoti.unsafe_alloc_void_ptrs_from_tensors(tensors)   # stolen by Run
        inputs = (ctypes.c_void_p * len(handles))(*[_capsule_pointer(h, None) for h in handles])
        results = (ctypes.c_void_p * n_out)()
        if call(container, inputs, ctypes.c_size_t(len(handles)), results, ctypes.c_size_t(n_out),
                None, None):
            raise RuntimeError(f"{path.name}: the model run failed")
        return tuple(torch._C._aoti.alloc_tensors_by_stealing_from_void_ptrs(
            [_capsule(results[i], None, None) for i in range(n_out)]))
    return run
