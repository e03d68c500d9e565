"""NXmx (NeXus) multi-module detectors: read any NXmx geometry; `write_nxmx`, the package's
one NXmx writer (n images of a panel list, one ``NXdetector_module`` per panel), used by
``-nxmxfile`` (`nxmx_bytes`), ``-nxsfile`` and the dataset shards (`dataset.nexus`).

Frame: NeXus's McStas frame (beam along +z unless ``NXbeam/incident_beam_direction`` says
otherwise) is used as is when reading.  A module's pixel (i_slow, j_fast) corner is
``O + j p_f f + i p_s s``: ``O`` the chain ``fast_pixel_direction`` depends on (usually
``module_offset`` and what that depends on) applied to the point 0, ``f`` and ``p_f`` the
``fast_pixel_direction`` vector (turned by the rotations of the chain it depends on) and
value, the same for slow.  Chains are followed through ``depends_on`` (absolute or
relative paths) with NeXus's rule ``x -> R x + t + offset``; lengths in m, mm, um, nm or cm and
angles in deg or rad (anything else: an error).  The writer turns the render's lab frame by the
smallest rotation taking the beam to +z (none when it already is) and writes every module as
``module_offset`` (|O| along O/|O|, depends_on ".") with fast/slow translations depending on it.
"""
from __future__ import annotations

import io

import numpy as np

from ..errors import NanoBraggError
from .panel_set import Panel, PanelSet, fill_slab, slab_layout, unit_vector, validate
from .atomic import read_input

LENGTH_M = {"m": 1.0, "metre": 1.0, "meter": 1.0, "mm": 1e-3, "millimetre": 1e-3, "millimeter": 1e-3,
            "cm": 1e-2, "um": 1e-6, "micron": 1e-6, "microns": 1e-6, "micrometer": 1e-6, "nm": 1e-9}
ANGLE_RAD = {"deg": np.pi / 180, "degree": np.pi / 180, "degrees": np.pi / 180, "rad": 1.0,
             "radian": 1.0, "radians": 1.0}
WAVELENGTH_M = {"angstrom": 1e-10, "A": 1e-10, "Å": 1e-10, "nm": 1e-9, "m": 1.0}


def _s(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _axis_matrix(ds, where: str) -> np.ndarray:
    """4x4 matrix of one transformation axis (first value), lengths in m."""
    kind = _s(ds.attrs.get("transformation_type", ""))
    units = _s(ds.attrs.get("units", ""))
    vec = np.asarray(ds.attrs.get("vector", (0, 0, 0)), dtype=float)
    value = float(np.ravel(ds[()])[0])
    M = np.eye(4)
    if kind == "rotation":
        if units not in ANGLE_RAD:
            raise NanoBraggError(f"{where}: unknown angle units '{units}' of {ds.name}")
        a = value * ANGLE_RAD[units]
        k = vec / np.linalg.norm(vec)
        K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        M[:3, :3] = np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K
    elif kind == "translation":
        if units not in LENGTH_M:
            raise NanoBraggError(f"{where}: unknown length units '{units}' of {ds.name}")
        M[:3, 3] = value * LENGTH_M[units] * vec
    else:
        raise NanoBraggError(f"{where}: {ds.name} has no transformation_type")
    if "offset" in ds.attrs:
        ou = _s(ds.attrs.get("offset_units", units))
        if ou not in LENGTH_M:
            raise NanoBraggError(f"{where}: unknown offset units '{ou}' of {ds.name}")
        M[:3, 3] += np.asarray(ds.attrs["offset"], dtype=float) * LENGTH_M[ou]
    return M


def _chain(ds, where: str) -> np.ndarray:
    """Cumulative matrix of `ds` and everything it depends on (T_last ... T_first)."""
    M, seen = np.eye(4), set()
    while ds is not None:
        if ds.name in seen:
            raise NanoBraggError(f"{where}: depends_on chain loops at {ds.name}")
        seen.add(ds.name)
        M = _axis_matrix(ds, where) @ M
        dep = _s(ds.attrs.get("depends_on", "."))
        if dep in (".", ""):
            break
        try:
            ds = ds.parent[dep]
        except KeyError:
            raise NanoBraggError(f"{where}: depends_on target {dep} of {ds.name} is missing") from None
    return M


def _module(g, where: str) -> Panel:
    for key in ("data_origin", "data_size", "fast_pixel_direction", "slow_pixel_direction"):
        if key not in g:
            raise NanoBraggError(f"{where}: missing {key}")
    size = np.ravel(g["data_size"][()]).astype(int)
    origin = np.ravel(g["data_origin"][()]).astype(int)
    if size.size != 2 or origin.size != 2:
        raise NanoBraggError(f"{where}: only 2-d modules (data_size of two values) are supported")
    zero = np.array([0.0, 0, 0, 1])
    steps, O = [], None
    for key in ("fast_pixel_direction", "slow_pixel_direction"):
        ds = g[key]
        parent = _chain(ds, where) @ np.linalg.inv(_axis_matrix(ds, where))   # what ds depends on
        steps.append((_chain(ds, where) @ zero - parent @ zero)[:3])
        O = parent @ zero if O is None else O
    pf, ps = (float(np.linalg.norm(v)) for v in steps)
    if pf == 0 or ps == 0:
        raise NanoBraggError(f"{where}: zero fast or slow pixel step")
    if abs(pf - ps) > 1e-9 * pf:
        raise NanoBraggError(f"{where}: pixels are not square ({pf * 1e3:g} x {ps * 1e3:g} mm)")
    name = g.name.rsplit("/", 1)[-1]
    return Panel(name=name, fpixels=int(size[1]), spixels=int(size[0]), pixel_size_m=pf,
                 fast=unit_vector(steps[0] / pf, "fast", where), slow=unit_vector(steps[1] / ps, "slow", where),
                 origin_m=tuple(O[:3]), data_origin=(int(origin[0]), int(origin[1])))


def _nx(g, cls: str) -> list:
    return [v for v in g.values() if _s(v.attrs.get("NX_class", "")) == cls]


def read_nxmx(path: str) -> PanelSet:
    """Every NXdetector_module of the first NXdetector as a panel; beam from NXbeam."""
    import h5py
    data = read_input(path)
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except OSError:
        raise NanoBraggError(f"{path}: not an HDF5 file") from None
    with f:
        entries = _nx(f, "NXentry")
        inst = _nx(entries[0], "NXinstrument") if entries else []
        dets = _nx(inst[0], "NXdetector") if inst else []
        if not dets:
            raise NanoBraggError(f"{path}: no NXentry/NXinstrument/NXdetector")
        modules = _nx(dets[0], "NXdetector_module")
        if not modules:
            raise NanoBraggError(f"{path}: the detector has no NXdetector_module")
        panels = [_module(m, f"{path}: panel {m.name.rsplit('/', 1)[-1]}") for m in modules]
        kw = {"beam": (0.0, 0.0, 1.0), "polar": (1.0, 0.0, 0.0)}
        beams = _nx(inst[0], "NXbeam")
        if beams:
            b = beams[0]
            if "incident_beam_direction" in b:
                kw["beam"] = unit_vector(np.ravel(b["incident_beam_direction"][()]), "beam", path)
            if "incident_wavelength" in b:
                u = _s(b["incident_wavelength"].attrs.get("units", "angstrom"))
                if u not in WAVELENGTH_M:
                    raise NanoBraggError(f"{path}: unknown wavelength units '{u}'")
                kw["wavelength_m"] = float(np.ravel(b["incident_wavelength"][()])[0]) * WAVELENGTH_M[u]
            if "incident_polarisation_stokes" in b:
                S = np.ravel(b["incident_polarisation_stokes"][()]).astype(float)[:4]
                chi = 0.5 * np.arctan2(S[2], S[1])
                kw["polar"] = (float(np.cos(chi)), float(np.sin(chi)), 0.0)
                kw["kahn"] = float(np.hypot(S[1], S[2]) / S[0]) if S[0] else 0.0
    return validate(PanelSet(panels=tuple(panels), source=path, **kw))


def to_mcstas(beam) -> np.ndarray:
    """[3, 3] rotation from nanoBragg's lab frame to the NeXus McStas frame: the least turn
    that takes the beam direction `beam` (3,) to +z.  Beam +x (MOSFLM, DENZO): rows (0 0 -1),
    (0 1 0), (1 0 0), nanoBragg's y kept; beam +z (XDS, DIALS, ADXV): the identity."""
    b = np.asarray(beam, dtype=float) / np.linalg.norm(beam)
    v, c = np.cross(b, [0.0, 0.0, 1.0]), float(b[2])
    if c < -1 + 1e-12:
        return np.diag([-1.0, 1.0, -1.0])
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def node(parent, path: str, nx_class: str, **attrs):
    """Group `path` (created with its parents) tagged with its NeXus class and attributes."""
    g = parent.require_group(path)
    g.attrs.update({"NX_class": nx_class, **attrs})
    return g


def field(g, name: str, value, units: str | None = None, attrs: dict | None = None, **create):
    """Dataset `name` of `g` (no timestamps: byte-reproducible files) with units/attributes;
    `create`: more h5py ``create_dataset`` arguments (dtype, chunks, filters).  A chunked
    dataset is flushed at once: where its chunks land in the file must not depend on when
    the h5py object happens to be released."""
    d = g.create_dataset(name, data=value, track_times=False, **create)
    d.attrs.update({**({"units": units} if units else {}), **(attrs or {})})
    if d.chunks:
        d.flush()
    return d


def h5_bytes(fill) -> bytes:
    """The bytes of an HDF5 file built in memory by ``fill(h5py.File)``."""
    import h5py
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="v110") as f:
        fill(f)
    return buf.getvalue()


def _axis(g, name: str, value_mm: float, vector, depends_on: str) -> None:
    field(g, name, value_mm, "mm", dict(transformation_type="translation", depends_on=depends_on,
                                        vector=np.asarray(vector, dtype=float), offset=np.zeros(3)))


def write_nxmx(f, ps: PanelSet, data: np.ndarray, wavelength_A, *, packing: dict | None = None,
               detector: dict | None = None, beam: dict | None = None, sample: dict | None = None) -> None:
    """One NXmx entry in the open h5py file `f` for `data` [n, slab_slow, slab_fast]: n images
    of the data slab of `ps` (`slab_layout`), one NXdetector_module per panel with its place in
    the slab and its geometry (in the McStas frame, `to_mcstas`).  `wavelength_A`: () or [n];
    `packing`: h5py chunking/filter arguments of the images; `detector`, `beam`, `sample`:
    more fields of those groups, ``{name: value or (value, units)}``."""
    R = to_mcstas(ps.beam)
    panels, shape = slab_layout(ps)
    if tuple(data.shape[1:]) != tuple(shape):
        raise ValueError(f"images of shape {data.shape[1:]} for a slab of {shape}")

    def more(g, fields: dict | None) -> None:
        for name, v in (fields or {}).items():
            field(g, name, *(v if isinstance(v, tuple) else (v,)))
    entry = node(f, "entry", "NXentry")
    field(entry, "definition", "NXmx")
    field(node(entry, "source", "NXsource"), "name", "simulated")
    inst = node(entry, "instrument", "NXinstrument")
    field(inst, "name", "nanobrag_torch simulation")
    det = node(inst, "detector", "NXdetector")
    images = field(det, "data", data, "photons" if data.dtype.kind == "f" else "counts", **(packing or {}))
    field(det, "type", "pixel")
    if len({p.pixel_size_m for p in panels}) == 1:
        field(det, "x_pixel_size", panels[0].pixel_size_m, "m")
        field(det, "y_pixel_size", panels[0].pixel_size_m, "m")
    single = len(panels) == 1          # one module: the detector's frame is the module's
    field(det, "depends_on", f"/{det.name.lstrip('/')}/{panels[0].name}/module_offset" if single else ".")
    more(det, detector)
    for p in panels:
        m = node(det, p.name, "NXdetector_module")
        field(m, "data_origin", np.asarray(p.data_origin, dtype=np.int64))
        field(m, "data_size", np.asarray(p.shape, dtype=np.int64))
        o = R @ np.asarray(p.origin_m, dtype=float) * 1e3
        norm = float(np.linalg.norm(o))
        _axis(m, "module_offset", norm, o / norm if norm else [0.0, 0.0, 1.0], ".")
        for name, v in (("fast_pixel_direction", p.fast), ("slow_pixel_direction", p.slow)):
            _axis(m, name, p.pixel_size_m * 1e3, R @ np.asarray(v), f"{m.name}/module_offset")
    b = node(inst, "beam", "NXbeam")
    field(b, "incident_wavelength", wavelength_A, "angstrom")
    field(b, "incident_beam_direction", R @ np.asarray(ps.beam, dtype=float))
    if ps.polar is not None:
        e = R @ np.asarray(ps.polar, dtype=float)
        chi, k = np.arctan2(e[1], e[0]), ps.kahn or 0.0
        field(b, "incident_polarisation_stokes", [1.0, k * np.cos(2 * chi), k * np.sin(2 * chi), 0.0])
    more(b, beam)
    smp = node(entry, "sample", "NXsample")
    field(smp, "depends_on", ".")
    more(smp, sample)
    node(entry, "data", "NXdata", signal="data")["data"] = images


def nxmx_bytes(ps: PanelSet, images: list, wavelength_m: float) -> bytes:
    """An NXmx file of one render: the panel images [spixels, fpixels] (in panel order) as
    the float32 slab [1, slow, fast] (gzip), geometry as `write_nxmx`."""
    slab = fill_slab(ps, images)[1][None]
    return h5_bytes(lambda f: write_nxmx(f, ps, slab, wavelength_m * 1e10, packing={"compression": "gzip"}))
