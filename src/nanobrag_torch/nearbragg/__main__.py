"""``python -m nanobrag_torch.nearbragg``: the nearBragg command line."""
import sys

from .cli import main

sys.exit(main())
