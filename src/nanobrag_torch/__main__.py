"""``python -m nanobrag_torch``: the nanoBragg command line."""
from .launch import nanoBragg

nanoBragg()
