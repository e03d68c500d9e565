"""``python -m nanobrag_torch.nonbragg``: the nonBragg command line."""
import sys

from .cli import main

sys.exit(main())
