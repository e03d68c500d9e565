"""``python -m nanobrag_torch.noisify``: the noisify command line."""
from ..errors import console
from .cli import main

console(main)()
