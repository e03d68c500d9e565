"""nearBragg: atom-by-atom near-field scattering (nearBragg.c), on torch.

`simulate_near(argv)` runs a command line and returns the images; the ``nearBragg`` console
script (`cli.main`) also prints the C's summary and writes its files."""
from .run import NearRun, simulate_near

__all__ = ["NearRun", "simulate_near"]
