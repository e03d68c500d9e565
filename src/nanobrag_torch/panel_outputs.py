"""Output files of multi-panel renders, and the geometry-file outputs of any render.

Multi-panel (``-detector``): ``-floatfile``/``-intfile``/``-noisefile`` are written once per
panel as ``STEM_<panel>.EXT`` (SMV headers of that panel's single-panel geometry; one int
scale for all panels; noise drawn from one generator stream in panel order, so the first
panel's noise equals a single-panel render's with the same seed); ``-npyfile`` holds
[panels, slow, fast] (or the data slab for panels of mixed shapes), ``-pgmfile``/``-pngfile``
the data slab.  Any render (one panel from today's flags, or many): ``-nxmxfile`` (NXmx, one
``NXdetector_module`` per panel), ``-cxifile`` (HDF5 slab) and ``-geomfile`` (its .geom),
``-exptfile`` (dxtbx experiment list with the crystal's real-space vectors).
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .conventions import time_seed
from .io.crystfel_geom import geom_text, slab_h5_bytes
from .io.dxtbx_expt import write_expt
from .io.nxmx_panels import nxmx_bytes, to_mcstas
from .io.pgm import write_pgm
from .io.png import write_png
from .io.raw import write_floatfile, write_npy
from .io.smv import write_smv
from .io.panel_set import PanelSet, fill_slab, rotated
from .models.panels import single_panel
from .noise import auto_int_scale, auto_pgm_scale, image_stats, int_image, panel_noise, pgm_image

HC_EV_M = 12398.419843320026e-10


def panel_path(path: str, name: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}_{name}{ext}"


def _per_panel(s, ps: PanelSet | None) -> list:
    if ps is None:
        return []
    files = [s.floatfile, s.intfile, s.noisefile if s.calculate_noise else None]
    return [panel_path(f, p.name) for f in files if f for p in ps.panels]


def output_paths(s) -> list:
    """Files of this module the run will write (checked before rendering)."""
    return [p for p in (s.nxmxfile, s.cxifile, s.geomfile, s.exptfile) if p] + _per_panel(s, s.panels)


def panels_and_images(r) -> tuple:
    """(PanelSet, [float32 [spixels, fpixels] per panel]) of a result, multi-panel or not."""
    if getattr(r, "panel_set", None) is not None:
        imgs = r.image if isinstance(r.image, list) else list(r.image)
        return r.panel_set, [im.detach().cpu().to(torch.float32).numpy() for im in imgs]
    return detector_panels(r.config, r.pre.detector), [r.image.detach().cpu().to(torch.float32).numpy()]


def detector_panels(cfg, detector=None) -> PanelSet:
    """The panels of a configuration: ``cfg.panels`` (-detector), else the one panel of today's
    flags (`detector`: the built `models.detector.Detector`, default built from `cfg`)."""
    if cfg.panels is not None:
        return cfg.panels
    if detector is None:
        from .models.detector import build_detector
        detector = build_detector(cfg.detector, cfg.beam.beam)
    return PanelSet(panels=(single_panel(detector),), beam=tuple(cfg.beam.beam),
                    polar=tuple(cfg.beam.polar), kahn=cfg.beam.polarization_kahn)


def write_geometry_outputs(r, batch, out=print) -> None:
    """-nxmxfile, -cxifile, -geomfile, -exptfile of any render."""
    s = r.settings
    if not (s.nxmxfile or s.cxifile or s.geomfile or s.exptfile):
        return
    ps, images = panels_and_images(r)
    lam = r.config.beam.lambda0_m
    if s.nxmxfile:
        out(f"writing {s.nxmxfile} (NXmx, {len(ps)} module(s))")
        batch.add(s.nxmxfile, nxmx_bytes(ps, images, lam))
    if s.cxifile:
        out(f"writing {s.cxifile} (HDF5 slab /data/data)")
        batch.add(s.cxifile, slab_h5_bytes(ps, images))
    if s.geomfile:
        out(f"writing {s.geomfile} (CrystFEL geometry, beam along +z)")
        batch.add(s.geomfile, geom_text(rotated(ps, to_mcstas(ps.beam)), photon_energy_eV=HC_EV_M / lam).encode())
    if s.exptfile:
        out(f"writing {s.exptfile} (dxtbx experiment list)")
        A = r.pre.crystal.a0_m.detach().cpu().numpy() * 1e10
        write_expt(s.exptfile, ps, lam, A, batch)


def write_panel_images(r, batch, smv_fields, out=print) -> None:
    """The per-panel float/SMV files and the slab previews of a multi-panel render;
    `smv_fields(result, noise)` gives a panel's SMV header (the CLI's)."""
    s = r.settings
    ps, images = panels_and_images(r)
    stats = [image_stats(im) for im in images]
    for p, (mx, _, mean, _, _) in zip(ps.panels, stats):
        out(f"  panel {p.name}: {p.fpixels}x{p.spixels} pixels, max_I = {mx:g}, mean = {mean:g}")
    max_I = max(st[0] for st in stats)
    if s.floatfile:
        for p, im in zip(ps.panels, images):
            write_floatfile(panel_path(s.floatfile, p.name), im, batch)
        out(f"writing {panel_path(s.floatfile, '<panel>')} for {len(ps)} panels")
    if s.npyfile:
        write_npy(s.npyfile, np.stack(images) if not isinstance(r.image, list) else fill_slab(ps, images)[1], batch)
    if s.pngfile:
        write_png(s.pngfile, fill_slab(ps, images)[1], batch)
    scale = s.intfile_scale if s.intfile_scale > 0 else auto_int_scale(max_I)
    out(f"intfile_scale = {scale:g}")
    if s.intfile:
        for p, im, res in zip(ps.panels, images, r.results):
            write_smv(panel_path(s.intfile, p.name), int_image(im, scale, s.adc_offset), smv_fields(res, False), batch)
    if s.write_pgm and s.pgmfile:
        whole = fill_slab(ps, images)[1]
        pgm_scale = s.pgm_scale if s.pgm_scale > 0 else auto_pgm_scale(image_stats(whole)[4], scale)
        write_pgm(s.pgmfile, pgm_image(whole, pgm_scale), pgm_scale, batch)
    if s.calculate_noise and s.noisefile:
        seed = s.seed if s.seed is not None else time_seed()
        out(f"  noise seed: {-seed} (reproduce with -seed {-seed})")
        for p, noisy, res in zip(ps.panels, panel_noise(images, seed, s.adc_offset), r.results):
            write_smv(panel_path(s.noisefile, p.name), noisy, smv_fields(res, True), batch)

