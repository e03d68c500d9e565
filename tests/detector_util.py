"""A tiny two-panel CrystFEL geometry (two tilted 6x5 panels, 50 mm away) for quick renders,
and the check of an NXmx file's module geometry through the `nxmx` package (dxtbx's parser)."""
from __future__ import annotations

import h5py
import numpy as np


TINY_GEOM = """res = 10000
clen = 0.05
photon_energy = 12398.419843320026
p0/min_fs = 0
p0/max_fs = 5
p0/min_ss = 0
p0/max_ss = 4
p0/corner_x = 60
p0/corner_y = 40
p0/fs = +0.99x +0.141067359796659z
p0/ss = +1y
p1/min_fs = 0
p1/max_fs = 5
p1/min_ss = 5
p1/max_ss = 9
p1/corner_x = -70
p1/corner_y = 55
p1/fs = +1x
p1/ss = +0.98y -0.198997487421324z
"""


def nxmx_corner_error_mm(path, ps) -> float:
    """Largest distance (mm) between the corner pixel centres of every module of the NXmx
    file `path` as the `nxmx` package derives them through the depends_on chains and the
    centres of the panels `ps` (turned into the McStas frame); the modules must be the panels."""
    import nxmx

    from nanobrag_torch.io.nxmx_panels import to_mcstas
    R = to_mcstas(ps.beam)
    worst = 0.0
    with h5py.File(path, "r") as f:
        det = nxmx.NXmx(f).entries[0].instruments[0].detectors[0]
        assert [m.path.rsplit("/", 1)[-1] for m in det.modules] == [p.name for p in ps.panels]
        for p, m in zip(ps.panels, det.modules):
            origin = nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(m.module_offset))[0] @ [0, 0, 0, 1]
            steps = []
            for ax in (m.fast_pixel_direction, m.slow_pixel_direction):
                full = nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(ax))[0] @ [0, 0, 0, 1]
                steps.append(full[:3] - origin[:3])
            ours = p.centres() * 1e3
            for i in (0, p.spixels - 1):
                for j in (0, p.fpixels - 1):
                    theirs = origin[:3] + (j + 0.5) * steps[0] + (i + 0.5) * steps[1]
                    worst = max(worst, float(np.abs(theirs - R @ ours[i, j]).max()))
    return worst
