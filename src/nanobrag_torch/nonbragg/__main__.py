"""``python -m nanobrag_torch.nonbragg``: the nonBragg command line."""
from ..launch import nonBragg

nonBragg()
