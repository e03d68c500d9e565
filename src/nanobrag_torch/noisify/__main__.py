"""``python -m nanobrag_torch.noisify``: the noisify command line."""
import sys

from .cli import main

sys.exit(main())
