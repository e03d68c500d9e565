"""``python -m nanobrag_torch.nearbragg``: the nearBragg command line."""
from ..errors import console
from .cli import main

console(main)()
