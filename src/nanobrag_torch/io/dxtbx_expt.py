"""dxtbx experiment-list (``.expt``) and detector JSON (``.json``): read and write.

Frame: dxtbx's lab frame is used as is (lengths mm in the file, m here).  A panel's
``fast_axis``/``slow_axis``/``origin`` are in the frame of its parent group (``hierarchy``);
they are composed to the lab frame as dxtbx does: ``fast = P [f_local]``,
``origin = P [o_local] + o_parent`` with ``P = [fast | slow | fast x slow]`` of the parent.
Beam: dxtbx's ``direction`` points to the source, so nanoBragg's beam vector is its negative;
``polarization_normal`` n gives the E-vector ``n x beam`` and ``polarization_fraction`` p the
Kahn factor ``2p - 1``.  We write a flat hierarchy (an identity root, panels in the lab frame),
the beam, and a crystal with its real-space vectors (A).
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import NanoBraggError
from .panel_set import Panel, PanelSet, unit_vector, validate
from .atomic import read_input

MM = 1e-3


def _need(d: dict, key: str, where: str):
    if key not in d:
        raise NanoBraggError(f"{where}: missing key '{key}'")
    return d[key]


def _vec3(d: dict, key: str, where: str) -> np.ndarray:
    v = _need(d, key, where)
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        a = None
    if a is None or a.shape != (3,) or not np.all(np.isfinite(a)):
        raise NanoBraggError(f"{where}: '{key}' must be three finite numbers")
    return a


def _frame(node: dict, parent: tuple, where: str) -> tuple:
    """(fast, slow, origin mm) of `node` in the lab frame, given the parent's lab frame."""
    pf, ps, po = parent
    P = np.column_stack([pf, ps, np.cross(pf, ps)])
    f = P @ np.asarray(unit_vector(_vec3(node, "fast_axis", where), "fast", where))
    s = P @ np.asarray(unit_vector(_vec3(node, "slow_axis", where), "slow", where))
    return f, s, P @ _vec3(node, "origin", where) + po


def _panel(d: dict, frame: tuple, where: str) -> Panel:
    f, s, o = frame
    size = _need(d, "image_size", where)
    pix = _need(d, "pixel_size", where)
    if len(size) != 2 or len(pix) != 2 or not float(pix[0]) > 0:
        raise NanoBraggError(f"{where}: image_size and pixel_size need two values each")
    if abs(float(pix[0]) - float(pix[1])) > 1e-12 * float(pix[0]):
        raise NanoBraggError(f"{where}: pixels are not square ({pix[0]} x {pix[1]} mm)")
    thick = float(d.get("thickness", 0.0) or 0.0)
    mu = float(d.get("mu", 0.0) or 0.0)
    return Panel(name=str(d.get("name") or where.rsplit(" ", 1)[-1]), fpixels=int(size[0]),
                 spixels=int(size[1]), pixel_size_m=float(pix[0]) * MM,
                 fast=tuple(f), slow=tuple(s), origin_m=tuple(o * MM),
                 thickness_m=thick * MM if thick > 0 else None,
                 mu_per_m=mu / MM if thick > 0 and mu > 0 else None)


def _detector(det: dict, path: str) -> list:
    panels = _need(det, "panels", path)
    if not panels:
        raise NanoBraggError(f"{path}: the detector has no panels")
    lab = (np.array([1.0, 0, 0]), np.array([0.0, 1, 0]), np.zeros(3))
    out = [None] * len(panels)

    def walk(node: dict, parent: tuple, where: str) -> None:
        frame = _frame(node, parent, where)
        for child in node.get("children", []):
            if "panel" in child:
                i = int(child["panel"])
                if not 0 <= i < len(panels) or out[i] is not None:
                    raise NanoBraggError(f"{path}: hierarchy refers to panel {i} twice or out of range")
                pw = f"{path}: panel {panels[i].get('name') or i}"
                out[i] = _panel(panels[i], _frame(panels[i], frame, pw), pw)
            else:
                walk(child, frame, f"{path}: group {child.get('name', '')}")
    if "hierarchy" in det:
        walk(det["hierarchy"], lab, f"{path}: hierarchy")
    for i, p in enumerate(panels):
        if out[i] is None:
            pw = f"{path}: panel {p.get('name') or i}"
            if "hierarchy" in det:
                raise NanoBraggError(f"{pw}: not in the hierarchy")
            out[i] = _panel(p, _frame(p, lab, pw), pw)
    return out


def read_expt(path: str) -> PanelSet:
    """The first experiment's detector and beam (or a bare detector JSON) as a `PanelSet`."""
    try:
        doc = json.loads(read_input(path).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NanoBraggError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise NanoBraggError(f"{path}: not a dxtbx experiment list or detector")
    beam = None
    if "detector" in doc and isinstance(doc["detector"], list):
        exp = (doc.get("experiment") or [{}])[0]
        det = doc["detector"][int(exp.get("detector", 0))] if doc["detector"] else None
        if det is None:
            raise NanoBraggError(f"{path}: no detector in the experiment list")
        if doc.get("beam"):
            beam = doc["beam"][int(exp.get("beam", 0))]
    else:
        det = doc
    panels = _detector(det, path)
    kw = {}
    if beam is not None:
        d = -np.asarray(unit_vector(_vec3(beam, "direction", f"{path}: beam"), "beam direction", path))
        wl = float(_need(beam, "wavelength", f"{path}: beam"))
        if not wl > 0:
            raise NanoBraggError(f"{path}: beam wavelength must be positive")
        kw = dict(beam=tuple(d), wavelength_m=wl * 1e-10)
        if "polarization_normal" in beam:
            n = _vec3(beam, "polarization_normal", f"{path}: beam")
            e = np.cross(n, d)
            if np.linalg.norm(e) > 0:
                kw["polar"] = tuple(e / np.linalg.norm(e))
            kw["kahn"] = 2.0 * float(beam.get("polarization_fraction", 0.5)) - 1.0
    return validate(PanelSet(panels=tuple(panels), source=path, **kw))


def _panel_dict(p: Panel) -> dict:
    return {"name": p.name, "type": "SENSOR_PAD", "fast_axis": list(p.fast), "slow_axis": list(p.slow),
            "origin": [x / MM for x in p.origin_m], "raw_image_offset": [0, 0],
            "image_size": [p.fpixels, p.spixels], "pixel_size": [p.pixel_size_m / MM] * 2,
            "trusted_range": [-1.0, 1e12], "thickness": (p.thickness_m or 0.0) / MM,
            "material": "Si" if p.thickness_m else "", "mu": (p.mu_per_m or 0.0) * MM,
            "identifier": "", "mask": [], "gain": 1.0, "pedestal": 0.0,
            "px_mm_strategy": {"type": "SimplePxMmStrategy"}}


def expt_document(ps: PanelSet, wavelength_m: float, real_space_A: np.ndarray | None) -> dict:
    """An experiment list: detector (flat hierarchy), beam and, when given, a crystal whose
    real-space vectors are the rows of `real_space_A` [3, 3] (A, lab frame)."""
    root = {"name": "", "type": "", "fast_axis": [1.0, 0.0, 0.0], "slow_axis": [0.0, 1.0, 0.0],
            "origin": [0.0, 0.0, 0.0], "raw_image_offset": [0, 0], "image_size": [0, 0],
            "pixel_size": [0.0, 0.0], "trusted_range": [0.0, 0.0], "thickness": 0.0,
            "material": "", "mu": 0.0, "identifier": "", "mask": [], "gain": 1.0, "pedestal": 0.0,
            "px_mm_strategy": {"type": "SimplePxMmStrategy"},
            "children": [{"panel": i} for i in range(len(ps.panels))]}
    b = np.asarray(ps.beam, dtype=float)
    beam = {"__id__": "monochromatic", "direction": list(-b), "wavelength": wavelength_m * 1e10,
            "divergence": 0.0, "sigma_divergence": 0.0, "polarization_normal": [0.0, 1.0, 0.0],
            "polarization_fraction": 0.5, "flux": 0.0, "transmission": 1.0, "probe": "x-ray",
            "sample_to_source_distance": 0.0}
    if ps.polar is not None:
        n = np.cross(b, np.asarray(ps.polar, dtype=float))
        if np.linalg.norm(n) > 0:
            beam["polarization_normal"] = list(n / np.linalg.norm(n))
        beam["polarization_fraction"] = (1.0 + (ps.kahn or 0.0)) / 2.0
    exp = {"__id__": "Experiment", "identifier": "", "beam": 0, "detector": 0}
    doc = {"__id__": "ExperimentList", "experiment": [exp], "imageset": [], "beam": [beam],
           "detector": [{"panels": [_panel_dict(p) for p in ps.panels], "hierarchy": root}],
           "goniometer": [], "scan": [], "crystal": [], "profile": [], "scaling_model": []}
    if real_space_A is not None:
        a, bb, c = (list(map(float, v)) for v in np.asarray(real_space_A, dtype=float))
        exp["crystal"] = 0
        doc["crystal"] = [{"__id__": "crystal", "real_space_a": a, "real_space_b": bb,
                           "real_space_c": c, "space_group_hall_symbol": " P 1"}]
    return doc


def write_expt(path: str, ps: PanelSet, wavelength_m: float, real_space_A, batch) -> None:
    """Stage the experiment list of `expt_document` as `path` in the OutputBatch `batch`."""
    batch.add(path, json.dumps(expt_document(ps, wavelength_m, real_space_A), indent=1).encode())
