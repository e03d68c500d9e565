"""nonBragg: amorphous-material background (water, air, ice) from S(Q)/F(stol) tables."""
from .api import background, run

__all__ = ["background", "run"]
