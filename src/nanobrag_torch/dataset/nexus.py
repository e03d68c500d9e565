"""NXmx HDF5 files: many-shot dataset shards and master file, and single-image files.

`entry_bytes` writes one NXmx entry of n shots through the one NXmx writer of the package
(`io.nxmx_panels.write_nxmx`: one NXdetector_module per panel, Bernstein et al. 2020
conventions dxtbx reads) and adds the shots' metadata; `shard_bytes` (one shard of a
dataset: a contiguous run of shots) and `image_bytes` (one render, ``-nxsfile``) both call
it.  Every dataset whose first axis is the shot axis is listed in `PER_SHOT`.  Shard images
are chunked one shot per chunk and compressed with bitshuffle/LZ4 (hdf5plugin; readers need
``import hdf5plugin``); single images are stored plain.  The detector is the render's panel
list (`panel_outputs.detector_panels`: today's flags give one module, ``-detector FILE`` one
per panel); each shot's image is the data slab of the panels (`io.panel_set.slab_layout`:
the file's places, or panels stacked along slow).  Layout (lengths in the unit attribute,
vectors in the NeXus McStas frame: z along the beam, see `io.nxmx_panels.to_mcstas`):

    /entry                       NXentry, definition = "NXmx"
      data/data                  link to instrument/detector/data
      instrument/beam            incident_wavelength [n] (A), fluence [n] (photons/m^2),
                                 incident_beam_direction, incident_polarisation_stokes
      instrument/detector        data [n, slab slow, slab fast] (photons/pixel, working dtype;
                                 or int32 counts), sensor_material, sensor_thickness,
                                 saturation_value, count_time, x/y_pixel_size, depends_on;
                                 one panel only: distance [n], beam_center_x/y [n] (m)
        <panel>                  NXdetector_module: data_origin, data_size, module_offset
                                 (depends_on .), fast/slow_pixel_direction (-> module_offset)
      sample                     unit_cell [n, 6] (A, deg), ub_matrix [n, 3, 3] (1/A; columns a*, b*, c*)
      nanobrag                   NXcollection: shot_index, seed (-1: none or failed), params (JSON),
                                 failed, error, reciprocal_basis [n, 3, 3] (rows a*, b*, c*,
                                 1/A, nanoBragg's lab frame), noise [n, slab slow, slab fast]
                                 uint16 (jobs with noise seeds); attrs args and job (JSON)

A failed shot keeps its place: zero image, ``failed`` true, NaN metadata, the error text.
Geometry datasets come from the job's command line without per-shot overrides; per-shot
detector overrides show in distance / beam_center_x / beam_center_y.  Files are
byte-reproducible (no timestamps).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import h5py
import numpy as np
import torch

from ..io.nxmx_panels import field, h5_bytes, node, to_mcstas, write_nxmx
from ..io.panel_set import fill_slab
from ..panel_outputs import detector_panels

DET = "entry/instrument/detector"
INT32_MAX = 2**31 - 1
PER_SHOT = (f"{DET}/data", f"{DET}/distance", f"{DET}/beam_center_x", f"{DET}/beam_center_y",
            "entry/instrument/beam/incident_wavelength", "entry/instrument/beam/fluence",
            "entry/sample/unit_cell", "entry/sample/ub_matrix", "entry/nanobrag/shot_index",
            "entry/nanobrag/seed", "entry/nanobrag/params", "entry/nanobrag/failed",
            "entry/nanobrag/error", "entry/nanobrag/reciprocal_basis", "entry/nanobrag/noise")
IMAGES = (f"{DET}/data", "entry/nanobrag/noise")


@dataclass
class ShotFailure:
    """A shot that raised: its index, the shot dict and the one-line error."""
    index: int
    shot: dict
    error: str


def slab(ps, image, dtype) -> np.ndarray:
    """The data slab [slab slow, slab fast] of `dtype` of a shot's image: [slow, fast] (one
    panel), [panels, slow, fast] or a list of [slow, fast] (one per panel), tensor or numpy."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    images = list(image) if isinstance(image, list) or np.ndim(image) == 3 else [image]
    return fill_slab(ps, [np.asarray(im) for im in images], dtype)[1]


def _shot_rows(records: list, ps, shape: tuple, rot: np.ndarray) -> dict:
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
            rows["noise"][i] = slab(ps, r.noise, np.uint16)
    return rows


def _jsonable(value):
    """JSON for tensors / numpy values in a shot dict."""
    return np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value).tolist()


def entry_bytes(cfg, records: list, images: np.ndarray, *, attrs: dict, noise: bool = False,
                compress: bool = True, sensor_material: str = "Si", count_time_s: float = 1.0,
                saturation_value: int = INT32_MAX) -> bytes:
    """One NXmx entry holding `images` [n, slab slow, slab fast] (`slab`) of the shots
    `records` (ShotImage or ShotFailure, in shot order) rendered with config `cfg`; `attrs`
    go on /entry/nanobrag (strings), `noise` adds the shots' noise images.  The detector is
    `cfg`'s (its command line, no per-shot overrides)."""
    ps = detector_panels(cfg)
    rot = to_mcstas(ps.beam)
    shape = images.shape[1:]
    rows = _shot_rows(records, ps, shape, rot)
    if compress:
        import hdf5plugin
        packing = dict(chunks=(1,) + shape, **hdf5plugin.Bitshuffle(cname="lz4"))
    else:
        packing = {}
    det = {"sensor_material": sensor_material, "sensor_thickness": (cfg.detector.thick_m, "m"),
           "saturation_value": np.int64(saturation_value), "count_time": (count_time_s, "s")}
    if cfg.panels is None:
        det.update(distance=(rows["distance"], "m"), beam_center_x=(rows["bcx"], "m"),
                   beam_center_y=(rows["bcy"], "m"))

    def fill(f: h5py.File) -> None:
        write_nxmx(f, ps, images, rows["wavelength"], packing=packing, detector=det,
                   beam={"fluence": (rows["fluence"], "m-2")},
                   sample={"unit_cell": rows["cell"], "ub_matrix": (rows["ub"], "1/angstrom")})
        c = node(f, "entry/nanobrag", "NXcollection", **attrs)
        field(c, "shot_index", rows["index"])
        field(c, "seed", rows["seed"])
        field(c, "params", rows["params"], dtype=h5py.string_dtype())
        field(c, "failed", rows["failed"])
        field(c, "error", rows["error"], dtype=h5py.string_dtype())
        field(c, "reciprocal_basis", rows["recip"], "1/angstrom")
        if noise:
            field(c, "noise", rows["noise"], "counts", **packing)
    return h5_bytes(fill)


def shard_bytes(renderer, records: list, job: dict) -> bytes:
    """An HDF5 shard of the shots `records` (ShotImage or ShotFailure, in shot order).

    `renderer`: the job's `ShotRenderer` (geometry, dtype); `job`: the job spec (JSON)."""
    cfg = renderer.cfg
    ps = detector_panels(cfg)
    dtype = np.dtype(cfg.dtype)
    empty = slab(ps, [np.zeros(p.shape) for p in ps.panels], dtype)
    images = np.stack([empty if isinstance(r, ShotFailure) else slab(ps, r.image, dtype) for r in records])
    return entry_bytes(cfg, records, images, attrs=dict(args=json.dumps(renderer.args),
                                                        job=json.dumps(job, sort_keys=True)),
                       noise=bool(job.get("noise")))


def image_bytes(result, image: np.ndarray, args: list, **fields) -> bytes:
    """A single-image NXmx file of one render (`simulate.Result`) whose pixels are `image`
    [slow, fast] (float32 photons or int32 counts); `fields`: as `entry_bytes`."""
    from ..many import ShotImage
    return entry_bytes(result.config, [ShotImage(0, {}, result, None)], image[None],
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
        return h5_bytes(fill)
    finally:
        for s in sources:
            s.close()
