"""``python -m nanobrag_torch.noisify``: the noisify command line."""
from .cli import entry

entry()
