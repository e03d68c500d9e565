"""``python -m nanobrag_torch``: the nanoBragg command line."""
import sys

from .cli import main

sys.exit(main())
