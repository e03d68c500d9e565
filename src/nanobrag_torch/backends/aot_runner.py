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
import os
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
    """The package's model library, opened from an extracted copy kept beside the package
    (``<package stem>.<crc32>.so``; written once, by a temporary name and a rename, so
    processes racing here each see a whole file).  Loading the package's library used to
    extract it to a new temporary directory in every process: ~0.1-0.16 s of a batch's
    start-up.  The copy is named by the member's CRC in the zip's directory, read on every
    load, so a truncated package fails here and a rebuilt one gets a copy of its own (older
    copies of that stem are removed; a cache that cannot be written to gets a temporary copy)."""
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if i.filename.endswith(".so")]
        if len(infos) != 1:
            raise ValueError(f"expected one model library, found {[i.filename for i in infos]}")
        info = infos[0]
        copy = path.with_name(f"{path.stem}.{info.CRC:08x}.so")
        if copy.exists() and copy.stat().st_size == info.file_size:
            return ctypes.CDLL(str(copy))
        try:
            _extract(archive, info, path, copy)
        except OSError:                     # a read-only cache: a copy for this process only
            tmp = tempfile.mkdtemp(prefix="nanobrag_aoti_")
            try:
                return ctypes.CDLL(archive.extract(info, tmp))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return ctypes.CDLL(str(copy))


def forget_copies(path: Path) -> None:
    """Remove the extracted library copies of the package at `path`."""
    for copy in path.parent.glob(f"{path.stem}.*.so"):
        copy.unlink(missing_ok=True)


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, copy: Path) -> None:
    """Write member `info` of the package at `path` to `copy` (temporary name, then rename;
    the package's permissions), after removing the package's other copies."""
    forget_copies(path)
    fd, tmp = tempfile.mkstemp(prefix=copy.name + ".", suffix=".tmp", dir=copy.parent)
    try:
        with os.fdopen(fd, "wb") as out, archive.open(info) as member:
            shutil.copyfileobj(member, out, 1 << 20)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, copy)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
