"""``python -m nanobrag_torch.nearbragg``: the nearBragg command line."""
from ..launch import nearBragg

nearBragg()
