"""Optional dependencies (gemmi, fabio, h5py, hdf5plugin), imported only when a flag needs them."""
from __future__ import annotations

import importlib

from nanobrag_torch.errors import NanoBraggError


def require(module: str, flag: str):
    """Import `module`, or a one-line error naming `flag` and the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise NanoBraggError(f"{flag}: needs the Python package '{module}' "
                             "(pip install 'nanobrag-torch[formats]')") from None
