"""Write the example detector geometries of this directory (run from the repository root:
``PYTHONPATH=src python examples/detectors/make_examples.py``).

- ``two_by_two.expt``: four 128x128 modules (0.172 mm pixels) in a 2x2 grid with 2 mm gaps,
  100 mm from the sample, as a dxtbx hierarchy (a group placed in the lab, panels in it).
- ``tilted8.geom``: eight 128x64 modules (0.1 mm pixels) in 2 columns x 4 rows, each turned by
  up to 1.5 deg and at its own distance around 80 mm (CrystFEL, beam along +z).
- ``layout32_4k.expt``: ILLUSTRATIVE ONLY (not a real instrument): 32 modules of 1024x512
  pixels (0.075 mm) in 4 columns x 8 rows, about 4k x 4k pixels, 200 mm away.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from nanobrag_torch.io.crystfel_geom import geom_text
from nanobrag_torch.io.dxtbx_expt import expt_document
from nanobrag_torch.io.panel_set import Panel, PanelSet

HERE = os.path.dirname(os.path.abspath(__file__))


def rot(ax, ay, az):
    """Rotation matrix: about x, then y, then z (degrees)."""
    a, b, c = (math.radians(v) for v in (ax, ay, az))
    Rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    Ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    Rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def two_by_two() -> dict:
    """2x2 modules as a hierarchy: the group frame sits 100 mm down the beam (dxtbx frame)."""
    size, pixel, gap = 128, 0.172, 2.0
    side = size * pixel
    doc = expt_document(PanelSet(panels=(), beam=(0.0, 0.0, -1.0), polar=(1.0, 0.0, 0.0), kahn=0.0),
                        1.0e-10, None)
    det = doc["detector"][0]
    group = dict(det["hierarchy"], name="quad", origin=[-1.3, 0.9, -100.0],
                 fast_axis=[1.0, 0.0, 0.0], slow_axis=[0.0, -1.0, 0.0], children=[])
    det["hierarchy"]["children"] = [group]
    tmpl = {k: v for k, v in det["hierarchy"].items() if k != "children"}
    for k, (cx, cy) in enumerate([(-1, -1), (1, -1), (-1, 1), (1, 1)]):
        lo = [(-side - gap / 2) if c < 0 else gap / 2 for c in (cx, cy)]
        det["panels"].append(dict(tmpl, name=f"m{k}", type="SENSOR_PAD", origin=[lo[0], lo[1], 0.0],
                                  fast_axis=[1.0, 0.0, 0.0], slow_axis=[0.0, 1.0, 0.0],
                                  image_size=[size, size], pixel_size=[pixel, pixel],
                                  trusted_range=[-1.0, 1e12]))
        group["children"].append({"panel": k})
    return doc


def tilted8() -> str:
    F, S, p = 128, 64, 1e-4
    panels = []
    for k in range(8):
        col, row = k % 2, k // 2
        centre = np.array([(col - 0.5) * (F * p + 1.5e-3), (row - 1.5) * (S * p + 1.0e-3),
                           0.080 + 0.4e-3 * (k % 3)])
        R = rot(1.5 * (-1) ** k, 0.8 * (row - 1.5), 0.6 * (col - 0.5))
        fs, ss = R @ [1.0, 0, 0], R @ [0, 1.0, 0]
        corner = centre - F * p / 2 * fs - S * p / 2 * ss
        panels.append(Panel(name=f"p{k}", fpixels=F, spixels=S, pixel_size_m=p, fast=tuple(fs),
                            slow=tuple(ss), origin_m=tuple(corner), data_origin=(k * S, 0)))
    return geom_text(PanelSet(panels=tuple(panels)), photon_energy_eV=9500.0)


def layout32() -> dict:
    F, S, p, gap = 1024, 512, 0.075e-3, 1.2e-3
    panels = []
    for k in range(32):
        col, row = k % 4, k // 4
        x0 = (col - 2) * (F * p + gap) + gap / 2
        y0 = (row - 4) * (S * p + gap) + gap / 2
        panels.append(Panel(name=f"ILLUSTRATIVE_m{k:02d}", fpixels=F, spixels=S, pixel_size_m=p,
                            fast=(1.0, 0.0, 0.0), slow=(0.0, -1.0, 0.0),
                            origin_m=(x0, -y0, -0.200)))
    return expt_document(PanelSet(panels=tuple(panels), beam=(0.0, 0.0, -1.0)), 1.0e-10, None)


if __name__ == "__main__":
    with open(os.path.join(HERE, "two_by_two.expt"), "w") as f:
        json.dump(two_by_two(), f, indent=1)
    with open(os.path.join(HERE, "tilted8.geom"), "w") as f:
        f.write(tilted8())
    with open(os.path.join(HERE, "layout32_4k.expt"), "w") as f:
        json.dump(layout32(), f, indent=1)
