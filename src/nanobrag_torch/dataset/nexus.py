"""NXmx HDF5 files: many-shot dataset shards and master file, and single-image files.

`nxmx_bytes` writes one NXmx entry of n images; `shard_bytes` (one shard of a dataset: a
contiguous run of shots) and `image_bytes` (one render, ``-nxsfile``) both call it.  Every
dataset whose first axis is the shot axis is listed in `PER_SHOT`.  Shard images are chunked
one shot per chunk and compressed with bitshuffle/LZ4 (hdf5plugin; readers need ``import
hdf5plugin``); single images are stored plain.  The detector is a list of `Module` (one
NXdetector_module each, Bernstein et al. 2020 conventions dxtbx reads: depends_on chains,
fast/slow pixel directions, sensor material and thickness, saturation value).  Layout
(lengths in the unit attribute, vectors in the NeXus McStas frame: z along the beam, the
rotation that takes nanoBragg's beam there with the least turn, see `to_mcstas`):

    /entry                       NXentry, definition = "NXmx"
      data/data                  link to instrument/detector/data
      instrument/beam            incident_wavelength [n] (A), fluence [n] (photons/m^2)
      instrument/detector        data [n, slow, fast] (photons/pixel, working dtype; or int32
                                 counts), distance [n], beam_center_x/y [n] (m), x/y_pixel_size,
                                 sensor_material, sensor_thickness, saturation_value,
                                 count_time, depends_on -> the first module's module_offset,
                                 module/{data_origin, data_size, module_offset (depends_on .),
                                 fast_pixel_direction, slow_pixel_direction (-> module_offset)}
      sample                     unit_cell [n, 6] (A, deg), ub_matrix [n, 3, 3] (1/A; columns a*, b*, c*)
      nanobrag                   NXcollection: shot_index, seed (-1: none or failed), params (JSON),
                                 failed, error, reciprocal_basis [n, 3, 3] (rows a*, b*, c*,
                                 1/A, nanoBragg's lab frame), noise [n, slow, fast] uint16
                                 (jobs with noise seeds); attrs args and job (JSON)

A failed shot keeps its place: zero image, ``failed`` true, NaN metadata, the error text.
Geometry datasets come from the job's command line without per-shot overrides; per-shot
detector overrides show in distance / beam_center_x / beam_center_y.  Files are
byte-reproducible (no timestamps).
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass

import h5py
import numpy as np
import torch

from ..io.nxmx_panels import to_mcstas
from ..models.detector import build_detector

DET = "entry/instrument/detector"
INT32_MAX = 2**31 - 1
PER_SHOT = (f"{DET}/data", f"{DET}/distance", f"{DET}/beam_center_x", f"{DET}/beam_center_y",
            "entry/instrument/beam/incident_wavelength", "entry/instrument/beam/fluence",
            "entry/sample/unit_cell", "entry/sample/ub_matrix", "entry/nanobrag/shot_index",
            "entry/nanobrag/seed", "entry/nanobrag/params", "entry/nanobrag/failed",
            "entry/nanobrag/error", "entry/nanobrag/reciprocal_basis", "entry/nanobrag/noise")
IMAGES = (f"{DET}/data", "entry/nanobrag/noise")


@dataclass(frozen=True)
class Module:
    """One detector module: pixels ``[data_origin : data_origin + data_size]`` (slow, fast)
    of the data array; `origin_m` (3,) the corner of its first pixel, `fast`, `slow` (3,)
    unit pixel directions, all in nanoBragg's lab frame (m); `pixel_m` the pixel pitch."""
    name: str
    data_origin: tuple
    data_size: tuple
    origin_m: np.ndarray
    fast: np.ndarray
    slow: np.ndarray
    pixel_m: float


def modules_of(detector) -> list:
    """The single module of a flat `models.detector.Detector`."""
    def arr(t):
        return t.detach().cpu().numpy().astype(float)
    return [Module("module", (0, 0), tuple(detector.shape), arr(detector.pix0_m), arr(detector.fdet),
                   arr(detector.sdet), detector.cfg.pixel_size_m)]


@dataclass
class ShotFailure:
    """A shot that raised: its index, the shot dict and the one-line error."""
    index: int
    shot: dict
    error: str


def _group(f: h5py.File, path: str, nx_class: str, **attrs) -> h5py.Group:
    g = f.require_group(path)
    g.attrs["NX_class"] = nx_class
    for k, v in attrs.items():
        g.attrs[k] = v
    return g


def _ds(g: h5py.Group, name: str, data, units: str | None = None, **kwargs) -> h5py.Dataset:
    d = g.create_dataset(name, data=data, track_times=False, **kwargs)
    if units:
        d.attrs["units"] = units
    return d


def _translation(g, name: str, value: float, vector, depends_on: str) -> None:
    d = _ds(g, name, value, "mm")
    d.attrs.update({"transformation_type": "translation", "vector": np.asarray(vector, dtype=float),
                    "offset": np.zeros(3), "depends_on": depends_on})


def write_modules(f: h5py.File, modules: list, rot: np.ndarray) -> None:
    """NXdetector_module groups of `modules` under the detector (vectors turned by `rot`)."""
    d = f[DET]
    _ds(d, "x_pixel_size", modules[0].pixel_m, "m")
    _ds(d, "y_pixel_size", modules[0].pixel_m, "m")
    _ds(d, "depends_on", f"/{DET}/{modules[0].name}/module_offset")
    for mod in modules:
        path = f"{DET}/{mod.name}"
        m = _group(f, path, "NXdetector_module")
        _ds(m, "data_origin", np.asarray(mod.data_origin, dtype=np.int64))
        _ds(m, "data_size", np.asarray(mod.data_size, dtype=np.int64))
        origin = rot @ mod.origin_m
        offset = float(np.linalg.norm(origin))
        _translation(m, "module_offset", offset * 1e3, origin / offset if offset else [0.0, 0.0, 1.0], ".")
        pixel_mm = mod.pixel_m * 1e3
        _translation(m, "fast_pixel_direction", pixel_mm, rot @ mod.fast, f"/{path}/module_offset")
        _translation(m, "slow_pixel_direction", pixel_mm, rot @ mod.slow, f"/{path}/module_offset")


def _shot_rows(records: list, shape: tuple, rot: np.ndarray) -> dict:
    """Per-shot arrays (first axis = shot) from ShotImage / ShotFailure records."""
    n = len(records)
    nan = np.full(n, np.nan)
    rows = {"distance": nan.copy(), "bcx": nan.copy(), "bcy": nan.copy(), "wavelength": nan.copy(),
            "fluence": nan.copy(), "cell": np.full((n, 6), np.nan), "ub": np.full((n, 3, 3), np.nan),
            "recip": np.full((n, 3, 3), np.nan), "index": np.array([r.index for r in records], dtype=np.int64),
            "seed": np.array([-1 if isinstance(r, ShotFailure) else r.shot.get("seed", -1) for r in records],
                             dtype=np.int64),
            "params": [json.dumps(r.shot, sort_keys=True, default=_jsonable) for r in records],
            "failed": np.array([isinstance(r, ShotFailure) for r in records]),
            "error": [r.error if isinstance(r, ShotFailure) else "" for r in records],
            "noise": np.zeros((n,) + shape, dtype=np.uint16)}
    for i, r in enumerate(records):
        if isinstance(r, ShotFailure):
            continue
        pre = r.result.pre
        recip = pre.crystal.recip_A.detach().cpu().numpy()
        rows["distance"][i] = float(pre.detector.distance_m)
        rows["bcx"][i] = float(pre.detector.Fbeam_m)
        rows["bcy"][i] = float(pre.detector.Sbeam_m)
        lam = r.shot.get("lambda", pre.cfg.beam.lambda0_m * 1e10)
        rows["wavelength"][i] = float(lam)
        rows["fluence"][i] = float(pre.fluence)
        rows["cell"][i] = pre.crystal.cell_A_deg
        rows["recip"][i] = recip
        rows["ub"][i] = rot @ recip.T
        if r.noise is not None:
            rows["noise"][i] = r.noise
    return rows


def _jsonable(value):
    """JSON for tensors / numpy values in a shot dict."""
    return np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value).tolist()


def _h5_bytes(fill) -> bytes:
    """The bytes of an HDF5 file built in memory by ``fill(h5py.File)``."""
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="v110") as f:
        fill(f)
    return buf.getvalue()


def nxmx_bytes(cfg, records: list, images: np.ndarray, *, attrs: dict, noise: bool = False,
               compress: bool = True, sensor_material: str = "Si", count_time_s: float = 1.0,
               saturation_value: int = INT32_MAX, modules: list | None = None) -> bytes:
    """One NXmx entry holding `images` [n, slow, fast] of the shots `records` (ShotImage or
    ShotFailure, in shot order) rendered with config `cfg`; `attrs` go on /entry/nanobrag
    (strings), `noise` adds the shots' noise images; `modules` default to the flat detector
    of `cfg`'s command line (no per-shot overrides)."""
    if modules is None:
        modules = modules_of(build_detector(cfg.detector, cfg.beam.beam))
    rot = to_mcstas(cfg.beam.beam)
    shape = images.shape[1:]
    rows = _shot_rows(records, shape, rot)
    if compress:
        import hdf5plugin
        packing = dict(chunks=(1,) + shape, **hdf5plugin.Bitshuffle(cname="lz4"))
    else:
        packing = {}

    def fill(f: h5py.File) -> None:
        _group(f, "entry", "NXentry")
        _ds(f["entry"], "definition", "NXmx")
        _group(f, "entry/instrument", "NXinstrument")
        d = _group(f, DET, "NXdetector")
        data = _ds(d, "data", images, "photons" if images.dtype.kind == "f" else "counts", **packing)
        _ds(d, "distance", rows["distance"], "m")
        _ds(d, "beam_center_x", rows["bcx"], "m")
        _ds(d, "beam_center_y", rows["bcy"], "m")
        _ds(d, "sensor_material", sensor_material)
        _ds(d, "sensor_thickness", cfg.detector.thick_m, "m")
        _ds(d, "saturation_value", np.int64(saturation_value))
        _ds(d, "count_time", count_time_s, "s")
        _ds(d, "type", "pixel")
        write_modules(f, modules, rot)
        b = _group(f, "entry/instrument/beam", "NXbeam")
        _ds(b, "incident_wavelength", rows["wavelength"], "angstrom")
        _ds(b, "fluence", rows["fluence"], "m-2")
        s = _group(f, "entry/sample", "NXsample")
        _ds(s, "depends_on", ".")
        _ds(s, "unit_cell", rows["cell"])
        _ds(s, "ub_matrix", rows["ub"], "1/angstrom")
        _group(f, "entry/data", "NXdata", signal="data")["data"] = data
        c = _group(f, "entry/nanobrag", "NXcollection", **attrs)
        _ds(c, "shot_index", rows["index"])
        _ds(c, "seed", rows["seed"])
        _ds(c, "params", rows["params"], dtype=h5py.string_dtype())
        _ds(c, "failed", rows["failed"])
        _ds(c, "error", rows["error"], dtype=h5py.string_dtype())
        _ds(c, "reciprocal_basis", rows["recip"], "1/angstrom")
        if noise:
            _ds(c, "noise", rows["noise"], "counts", **packing)
    return _h5_bytes(fill)


def shard_bytes(renderer, records: list, job: dict) -> bytes:
    """An HDF5 shard of the shots `records` (ShotImage or ShotFailure, in shot order).

    `renderer`: the job's `ShotRenderer` (shape, dtype, geometry); `job`: the job spec (JSON)."""
    cfg = renderer.cfg
    shape = (cfg.detector.spixels, cfg.detector.fpixels)
    images = np.zeros((len(records),) + shape, dtype=np.dtype(cfg.dtype))
    for i, r in enumerate(records):
        if not isinstance(r, ShotFailure):
            images[i] = r.image.detach().cpu().numpy()
    return nxmx_bytes(cfg, records, images, attrs=dict(args=json.dumps(renderer.args),
                                                         job=json.dumps(job, sort_keys=True)),
                      noise=bool(job.get("noise")))


def image_bytes(result, image: np.ndarray, args: list, **fields) -> bytes:
    """A single-image NXmx file of one render (`simulate.Result`) whose pixels are `image`
    [slow, fast] (float32 photons or int32 counts); `fields`: as `nxmx_bytes`."""
    from ..many import ShotImage
    return nxmx_bytes(result.config, [ShotImage(0, {}, result, None)], image[None],
                      attrs=dict(args=json.dumps([str(a) for a in args])), compress=False, **fields)


def master_bytes(out_dir: str, shard_names: list) -> bytes:
    """The dataset's master file for `out_dir`, laid out as detector facilities write NXmx
    (Dectris style): ``/entry/data/data_000001``... are external links to each shard's images
    (``/entry/nanobrag/noise_000001``... to its noise images), in shot order, named relative to
    the master's directory; the other per-shot datasets are concatenated over the shards and
    the rest is copied from the first shard."""
    sources = [h5py.File(os.path.join(out_dir, p), "r") for p in shard_names]
    first = sources[0]

    def fill(out: h5py.File) -> None:
        def visit(name, link):
            obj = first[name]
            if isinstance(obj, h5py.Group):
                out.require_group(name).attrs.update(obj.attrs)
            elif name in PER_SHOT and name not in IMAGES:
                d = out.create_dataset(name, data=np.concatenate([s[name][()] for s in sources]),
                                       dtype=obj.dtype, track_times=False)
                d.attrs.update(obj.attrs)
            elif name not in IMAGES and name != "entry/data/data":
                first.copy(obj, out.require_group(os.path.dirname(name)), name=os.path.basename(name))
        first.visititems_links(visit)
        out["entry/data"].attrs["signal"] = "data_000001"
        for k, shard in enumerate(shard_names, 1):
            for group, image in (("entry/data/data", IMAGES[0]), ("entry/nanobrag/noise", IMAGES[1])):
                if image in first:
                    out[f"{group}_{k:06d}"] = h5py.ExternalLink(shard, "/" + image)
    try:
        return _h5_bytes(fill)
    finally:
        for s in sources:
            s.close()
