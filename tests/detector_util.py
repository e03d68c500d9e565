"""A tiny two-panel CrystFEL geometry (two tilted 6x5 panels, 50 mm away) for quick renders."""

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
