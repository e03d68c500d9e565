"""CrystFEL geometry files (``.geom``): read and write.

Frame: CrystFEL's lab frame is used as is: the beam travels along +z.  A panel's pixel
(fs, ss) corner sits at ``(corner_x + fs fs_x + ss ss_x, corner_y + fs fs_y + ss ss_y)`` pixels
in x, y and ``clen + coffset`` metres (plus ``(fs fs_z + ss ss_z) / res``) in z; ``res`` is
pixels per metre, so the panel origin is ``(corner_x / res, corner_y / res, clen + coffset)``.
Keys without a panel name are defaults for the panels that appear after them (CrystFEL's
rule); ``photon_energy`` (eV) gives the wavelength.  Bad regions (``bad_*/min_x..max_y`` by
pixel centre in lab pixels, or ``min_fs..max_ss`` with ``panel``) become each panel's mask.
A panel's ``min_fs..max_ss`` is its place in the data slab ``[ss, fs]`` of ``data``.
"""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from ..errors import NanoBraggError
from .panel_set import Panel, PanelSet, fill_slab, slab_layout, unit_vector, validate
from .atomic import read_input

HC_EV_M = 12398.419843320026e-10     # h c in eV m
PANEL_KEYS = {"min_fs", "max_fs", "min_ss", "max_ss", "corner_x", "corner_y", "fs", "ss", "res",
              "clen", "coffset", "data", "dim0", "dim1", "dim2", "adu_per_eV", "adu_per_photon",
              "max_adu", "mask", "mask_file", "mask_good", "mask_bad", "no_index", "flag_lessthan",
              "flag_morethan", "flag_equal", "saturation_map", "photon_energy_scale", "satmap",
              "satmap_file", "rail_direction", "clen_for_centering", "mask0_data", "mask0_goodbits",
              "mask0_badbits", "mask0_file"}
BAD_KEYS = {"min_x", "max_x", "min_y", "max_y", "min_fs", "max_fs", "min_ss", "max_ss", "panel"}
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def _parse_vector(text: str, where: str) -> tuple:
    """'+0.99x -0.01y +0z' -> (x, y, z)."""
    compact = text.replace(" ", "")
    terms = re.findall(rf"({_NUM}|[+-]?)([xyz])", compact)
    if not terms or "".join(c + a for c, a in terms) != compact:
        raise NanoBraggError(f"{where}: cannot read the vector '{text}'")
    v = [0.0, 0.0, 0.0]
    for coef, axis in terms:
        v["xyz".index(axis)] += float(coef + "1" if coef in ("", "+", "-") else coef)
    return tuple(v)


def _lines(path: str):
    for n, raw in enumerate(read_input(path).decode(errors="replace").splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if line:
            if "=" not in line:
                raise NanoBraggError(f"{path} line {n}: expected 'key = value'")
            key, value = (x.strip() for x in line.split("=", 1))
            yield n, key, value


def _number(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise NanoBraggError(f"{where}: expected a number, got '{value}' (HDF5 paths for "
                             "clen/photon_energy are not supported: give the value)") from None


def read_geom(path: str) -> PanelSet:
    """Panels, their slab places and bad-region masks, and the wavelength of a .geom file."""
    defaults, panels, bad, glob = {}, {}, {}, {}
    for n, key, value in _lines(path):
        if "/" in key:
            name, prop = key.rsplit("/", 1)
            if name.startswith("bad"):
                if prop not in BAD_KEYS:
                    raise NanoBraggError(f"{path} line {n}: unknown bad-region key '{prop}'")
                bad.setdefault(name, {})[prop] = value
                continue
            if name.startswith("rigid_group") or name.startswith("/"):
                continue
            if prop not in PANEL_KEYS:
                raise NanoBraggError(f"{path} line {n}: unknown panel key '{prop}' (panel {name})")
            panels.setdefault(name, dict(defaults))[prop] = value
        elif key in PANEL_KEYS:
            defaults[key] = value
        else:
            glob[key] = value
    if not panels:
        raise NanoBraggError(f"{path}: no panels")
    out = [_panel(path, name, d) for name, d in panels.items()]
    out = _apply_bad(path, out, bad)
    kw = {}
    if "photon_energy" in glob:
        kw["wavelength_m"] = HC_EV_M / _number(glob["photon_energy"], f"{path}: photon_energy")
    elif "wavelength" in glob:
        kw["wavelength_m"] = _number(glob["wavelength"], f"{path}: wavelength")
    return validate(PanelSet(panels=tuple(out), source=path, beam=(0.0, 0.0, 1.0),
                             polar=(1.0, 0.0, 0.0), **kw))


def _panel(path: str, name: str, d: dict) -> Panel:
    where = f"{path}: panel {name}"

    def num(key):
        if key not in d:
            raise NanoBraggError(f"{where}: missing key '{key}'")
        return _number(d[key], f"{where}: {key}")
    res, clen = num("res"), num("clen")
    if not res > 0:
        raise NanoBraggError(f"{where}: res must be positive (pixels per metre)")
    off = _number(d.get("coffset", "0"), f"{where}: coffset")
    for k in ("fs", "ss"):
        if k not in d:
            raise NanoBraggError(f"{where}: missing key '{k}'")
    fs = unit_vector(_parse_vector(d["fs"], f"{where}: fs"), "fs", where)
    ss = unit_vector(_parse_vector(d["ss"], f"{where}: ss"), "ss", where)
    lo = [int(num(k)) for k in ("min_fs", "min_ss")]
    hi = [int(num(k)) for k in ("max_fs", "max_ss")]
    if hi[0] < lo[0] or hi[1] < lo[1] or min(lo) < 0:
        raise NanoBraggError(f"{where}: max_fs/max_ss below min_fs/min_ss")
    origin = (num("corner_x") / res, num("corner_y") / res, clen + off)
    fixed = tuple((k, d[k]) for k in sorted(d) if k.startswith("dim") and d[k] not in ("%", "ss", "fs"))
    return Panel(name=name, fpixels=hi[0] - lo[0] + 1, spixels=hi[1] - lo[1] + 1,
                 pixel_size_m=1.0 / res, fast=fs, slow=ss, origin_m=origin,
                 data_origin=(lo[1], lo[0]), data_block=(d.get("data", ""),) + fixed)


def _apply_bad(path: str, panels: list, bad: dict) -> list:
    masks = {p.name: np.zeros(p.shape, dtype=bool) for p in panels}
    for name, d in bad.items():
        where = f"{path}: {name}"
        if {"min_x", "max_x", "min_y", "max_y"} <= d.keys():
            lo_x, hi_x, lo_y, hi_y = (_number(d[k], where) for k in ("min_x", "max_x", "min_y", "max_y"))
            for p in panels:
                c = p.centres() / p.pixel_size_m
                masks[p.name] |= (c[..., 0] >= lo_x) & (c[..., 0] <= hi_x) & (c[..., 1] >= lo_y) & (c[..., 1] <= hi_y)
        elif {"min_fs", "max_fs", "min_ss", "max_ss"} <= d.keys():
            targets = [p for p in panels if p.name == d.get("panel")] if "panel" in d else panels
            if "panel" in d and not targets:
                raise NanoBraggError(f"{where}: unknown panel '{d['panel']}'")
            for p in targets:
                f0, f1, s0, s1 = (int(_number(d[k], where)) for k in ("min_fs", "max_fs", "min_ss", "max_ss"))
                so, fo = p.data_origin
                masks[p.name][max(s0 - so, 0):max(s1 - so + 1, 0), max(f0 - fo, 0):max(f1 - fo + 1, 0)] = True
        else:
            raise NanoBraggError(f"{where}: a bad region needs min_x/max_x/min_y/max_y or min_fs/max_fs/min_ss/max_ss")
    return [replace(p, bad=masks[p.name]) if masks[p.name].any() else p for p in panels]


def _vector_text(v) -> str:
    return " ".join(f"{float(c):+.17g}{a}" for c, a in zip(v, "xyz"))


def _bad_rectangles(mask: np.ndarray) -> list:
    """Inclusive (f0, f1, s0, s1) rectangles covering a mask: row runs merged down the rows."""
    rects, open_ = [], {}
    for s in range(mask.shape[0] + 1):
        runs = set()
        if s < mask.shape[0]:
            row = np.concatenate([[False], mask[s], [False]])
            edges = np.flatnonzero(row[1:] != row[:-1])
            runs = {(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])}
        for run in list(open_):
            if run not in runs:
                rects.append((run[0], run[1], open_.pop(run), s - 1))
        for run in runs:
            open_.setdefault(run, s)
    return rects


def geom_text(ps: PanelSet, data_path: str = "/data/data", photon_energy_eV: float | None = None) -> str:
    """A .geom for `ps` in its own frame (the beam must travel along +z), panels at their slab
    places (stacked along ss when the geometry gave none)."""
    panels, shape = slab_layout(ps)
    out = ["; written by nanobrag_torch: panels in CrystFEL's frame (beam along +z), lengths m",
           f"; data slab [ss, fs] = {shape[0]} x {shape[1]}"]
    if photon_energy_eV is not None:
        out.append(f"photon_energy = {float(photon_energy_eV)!r}")
    out += [f"data = {data_path}", "dim0 = ss", "dim1 = fs", "adu_per_photon = 1", ""]
    bad_lines = []
    for p in panels:
        res = 1.0 / p.pixel_size_m
        so, fo = p.data_origin
        n = p.name
        out += [f"{n}/min_fs = {fo}", f"{n}/max_fs = {fo + p.fpixels - 1}",
                f"{n}/min_ss = {so}", f"{n}/max_ss = {so + p.spixels - 1}",
                f"{n}/res = {float(res)!r}", f"{n}/clen = {float(p.origin_m[2])!r}", f"{n}/coffset = 0",
                f"{n}/corner_x = {float(p.origin_m[0] * res)!r}",
                f"{n}/corner_y = {float(p.origin_m[1] * res)!r}",
                f"{n}/fs = {_vector_text(p.fast)}", f"{n}/ss = {_vector_text(p.slow)}", ""]
        if p.bad is not None:
            for k, (f0, f1, s0, s1) in enumerate(_bad_rectangles(p.bad)):
                b = f"bad_{n}_{k}"
                bad_lines += [f"{b}/min_fs = {fo + f0}", f"{b}/max_fs = {fo + f1}",
                              f"{b}/min_ss = {so + s0}", f"{b}/max_ss = {so + s1}", f"{b}/panel = {n}", ""]
    return "\n".join(out + bad_lines) + "\n"


def slab_h5_bytes(ps: PanelSet, images: list, data_path: str = "/data/data") -> bytes:
    """A CrystFEL-style HDF5 file: the panel images [spixels, fpixels] (float32 photons) at their
    places of `slab_layout` in one 2-d dataset `data_path` [ss, fs] (what `geom_text` describes)."""
    import io

    import h5py
    _, slab = fill_slab(ps, images)
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="v110") as f:
        f.create_dataset(data_path, data=slab, compression="gzip", track_times=False)
    return buf.getvalue()
