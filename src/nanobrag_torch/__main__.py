"""``python -m nanobrag_torch``: the nanoBragg command line."""
from .cli import main
from .errors import console

console(main)()
