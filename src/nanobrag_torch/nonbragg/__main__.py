"""``python -m nanobrag_torch.nonbragg``: the nonBragg command line."""
from ..errors import console
from .cli import main

console(main)()
