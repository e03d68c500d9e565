"""Multi-panel detectors (issue 14): geometry files in and out, panel renders, errors, gradients."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from detector_util import TINY_GEOM, nxmx_corner_error_mm
from golden_util import ROOT, TOL
from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.crystfel_geom import geom_text, read_geom
from nanobrag_torch.io.detector_file import read_detector
from nanobrag_torch.io.dxtbx_expt import expt_document, read_expt
from nanobrag_torch.io.nxmx_panels import nxmx_bytes, read_nxmx, to_mcstas
from nanobrag_torch.models.panels import custom_flags
from nanobrag_torch.simulate import run, simulate

EX = ROOT / "examples" / "detectors"
T = TOL["multipanel"]
BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -dtype float64 -misset 10 20 30".split()


def _geom_centres_independent(path: Path) -> dict:
    """Pixel centres (mm) of every panel by CrystFEL's own formula, read with plain parsing."""
    vals = {}
    for line in path.read_text().splitlines():
        line = line.split(";")[0].strip()
        if "/" in line.split("=")[0]:
            k, v = (x.strip() for x in line.split("=", 1))
            name, prop = k.rsplit("/", 1)
            vals.setdefault(name, {})[prop] = v
    out = {}
    for name, d in vals.items():
        if name.startswith("bad"):
            continue
        res = float(d["res"])
        vec = {}
        for key in ("fs", "ss"):
            v = np.zeros(3)
            for term in d[key].split():
                v["xyz".index(term[-1])] = float(term[:-1])
            vec[key] = v
        nf = int(d["max_fs"]) - int(d["min_fs"]) + 1
        ns = int(d["max_ss"]) - int(d["min_ss"]) + 1
        fs, ss = np.meshgrid(np.arange(nf) + 0.5, np.arange(ns) + 0.5)
        pos = (np.array([float(d["corner_x"]), float(d["corner_y"]), 0.0])
               + fs[..., None] * vec["fs"] + ss[..., None] * vec["ss"]) / res
        pos[..., 2] += float(d["clen"]) + float(d.get("coffset", 0))
        out[name] = pos * 1e3
    return out


def _expt_centres_independent(doc: dict) -> list:
    """Pixel centres (mm) of an experiment list by explicit hierarchy composition."""
    det = doc["detector"][0]
    out = [None] * len(det["panels"])

    def frame(node, parent):
        pf, ps, po = parent
        pn = np.cross(pf, ps)
        M = np.stack([pf, ps, pn], axis=1)
        return (M @ np.array(node["fast_axis"]), M @ np.array(node["slow_axis"]), M @ np.array(node["origin"]) + po)

    def walk(node, parent):
        fr = frame(node, parent)
        for ch in node["children"]:
            if "panel" in ch:
                p = det["panels"][ch["panel"]]
                f, s, o = frame(p, fr)
                nf, ns = p["image_size"]
                px = p["pixel_size"][0]
                F, S = np.meshgrid((np.arange(nf) + 0.5) * px, (np.arange(ns) + 0.5) * px)
                out[ch["panel"]] = o + F[..., None] * f + S[..., None] * s
            else:
                walk(ch, fr)
    walk(det["hierarchy"], (np.eye(3)[0], np.eye(3)[1], np.zeros(3)))
    return out


def test_expt_round_trip_keeps_pixel_centres(tmp_path):
    src = EX / "two_by_two.expt"
    want = _expt_centres_independent(json.loads(src.read_text()))
    ps = read_expt(str(src))
    out = tmp_path / "out.expt"
    out.write_text(json.dumps(expt_document(ps, ps.wavelength_m, np.eye(3) * 100)))
    again = read_expt(str(out))
    assert len(again.panels) == 4
    for w, p in zip(want, again.panels):
        assert np.abs(p.centres() * 1e3 - w).max() <= T["round_trip_mm"]
    # and the written file by the same independent composition
    for w, c in zip(want, _expt_centres_independent(json.loads(out.read_text()))):
        assert np.abs(c - w).max() <= T["round_trip_mm"]
    assert np.allclose(again.beam, ps.beam) and again.wavelength_m == pytest.approx(1e-10, rel=1e-15)


def test_geom_round_trip_keeps_pixel_centres(tmp_path):
    src = EX / "tilted8.geom"
    want = _geom_centres_independent(src)
    ps = read_geom(str(src))
    out = tmp_path / "out.geom"
    out.write_text(geom_text(ps))
    got = _geom_centres_independent(out)
    again = read_geom(str(out))
    for p in again.panels:
        assert np.abs(got[p.name] - want[p.name]).max() <= T["round_trip_mm"]
        assert np.abs(p.centres() * 1e3 - want[p.name]).max() <= T["round_trip_mm"]
        assert p.data_origin == next(q.data_origin for q in ps.panels if q.name == p.name)


def test_nxmx_package_reads_our_modules(tmp_path):
    ps = read_detector(str(EX / "two_by_two.expt"))      # beam along -z: the writer turns it
    imgs = [np.full(p.shape, k, dtype=np.float32) for k, p in enumerate(ps.panels)]
    path = tmp_path / "img.nxs"
    path.write_bytes(nxmx_bytes(ps, imgs, 1e-10))
    assert nxmx_corner_error_mm(path, ps) <= T["nxmx_corner_mm"]
    with h5py.File(path, "r") as f:
        det = f["entry/instrument/detector"]
        for k, p in enumerate(ps.panels):
            (s0, f0), (ns, nf) = det[p.name]["data_origin"][()], det[p.name]["data_size"][()]
            assert np.all(det["data"][0, s0:s0 + ns, f0:f0 + nf] == imgs[k])
    R = to_mcstas(ps.beam)
    back = read_nxmx(str(path))
    for p, q in zip(ps.panels, back.panels):
        assert np.abs(q.centres() - (p.centres() @ R.T)).max() * 1e3 <= T["round_trip_mm"]


@pytest.mark.parametrize("name", ["two_by_two.expt", "tilted8.geom"])
def test_each_panel_equals_its_single_panel_render(name):
    r = run(["-detector", str(EX / name)] + BASE)
    ps = r.panel_set
    assert tuple(r.image.shape) == (len(ps), ps.panels[0].spixels, ps.panels[0].fpixels)
    top = float(r.image.max())
    for i in (0, len(ps) - 1):
        p = ps.panels[i]
        flags = custom_flags(p, ps.beam, ps.polar) + ["-lambda", repr(ps.wavelength_m * 1e10)]
        alone = simulate(BASE + flags)
        assert float((alone - r.image[i]).abs().max()) <= T["panel_vs_single_rel_max"] * top


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD_GEOM = """res = 10000
clen = 0.1
p0/min_fs = 0
p0/max_fs = 9
p0/min_ss = 0
p0/max_ss = 9
p0/corner_x = -5
p0/corner_y = -5
p0/fs = +1x
p0/ss = +1y
"""


@pytest.mark.parametrize("edit,message", [
    (("p0/fs = +1x", "p0/fs = 0x"), "p0: fs vector"),
    (("p0/ss = +1y", "p0/ss = +1x"), "p0: fast and slow vectors are parallel"),
    (("clen = 0.1", "clen = -0.1"), "p0: panel is behind the sample"),
    (("p0/corner_y = -5\n", ""), "p0: missing key 'corner_y'"),
    (("clen = 0.1", "clen = /LCLS/detector_1/EncoderValue"), "p0: clen: expected a number"),
    (("p0/ss = +1y\n", "p0/ss = +1y\np1/min_fs = 5\np1/max_fs = 14\np1/min_ss = 0\np1/max_ss = 9\n"
      "p1/corner_x = 10\np1/corner_y = 0\np1/fs = +1x\np1/ss = +1y\n"), "p1 overlaps panel p0 in the data slab"),
])
def test_bad_geom_one_line_error(tmp_path, edit, message):
    path = _write(tmp_path, "bad.geom", GOOD_GEOM.replace(*edit))
    with pytest.raises(NanoBraggError) as e:
        read_geom(path)
    assert message in str(e.value) and str(e.value).startswith(path) and "\n" not in str(e.value)


def test_bad_expt_and_nxmx_errors(tmp_path):
    doc = json.loads((EX / "two_by_two.expt").read_text())
    del doc["detector"][0]["panels"][2]["origin"]
    with pytest.raises(NanoBraggError, match="panel m2: missing key 'origin'"):
        read_expt(_write(tmp_path, "a.expt", json.dumps(doc)))
    ps = read_detector(str(EX / "two_by_two.expt"))
    path = tmp_path / "u.nxs"
    path.write_bytes(nxmx_bytes(ps, [np.zeros(p.shape, np.float32) for p in ps.panels], 1e-10))
    with h5py.File(path, "r+") as f:
        f["entry/instrument/detector/m1/module_offset"].attrs["units"] = "furlong"
    with pytest.raises(NanoBraggError, match="panel m1: unknown length units 'furlong'"):
        read_nxmx(str(path))
    with pytest.raises(NanoBraggError, match="unknown detector file type"):
        read_detector(_write(tmp_path, "x.txt", "hello"))


def test_bad_regions_are_masked(tmp_path):
    text = GOOD_GEOM + "bad_a/min_fs = 2\nbad_a/max_fs = 3\nbad_a/min_ss = 0\nbad_a/max_ss = 9\nbad_a/panel = p0\n"
    ps = read_geom(_write(tmp_path, "m.geom", text))
    bad = ps.panels[0].bad
    assert bad[:, 2:4].all() and bad.sum() == 20
    again = read_geom(_write(tmp_path, "m2.geom", geom_text(ps)))
    assert np.array_equal(again.panels[0].bad, bad)
    img = simulate(["-detector", _write(tmp_path, "m3.geom", text)] + BASE + ["-lambda", "1"])
    assert float(img[0][:, 2:4].abs().max()) == 0.0 and float(img[0][:, 4:].min()) > 0


def test_conflicting_flags_refused():
    with pytest.raises(NanoBraggError, match="-distance: not with -detector"):
        simulate(["-detector", str(EX / "two_by_two.expt"), "-distance", "100"] + BASE)




def test_panel_gradients_gradcheck(tmp_path):
    args = ["-detector", _write(tmp_path, "tiny.geom", TINY_GEOM), "-cell", "30", "30", "30", "90", "90",
            "90", "-default_F", "100", "-N", "3", "-dtype", "float64", "-misset", "10", "20", "30"]

    def f(off, rot):
        return simulate(args, params={"panel_offset": off, "panel_rotation": rot})
    off = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    rot = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    assert float(f(off, rot).detach().std()) > 0
    assert torch.autograd.gradcheck(f, (off, rot), eps=1e-6, atol=1e-7, rtol=1e-4)


def test_many_shots_carry_panels(tmp_path):
    from nanobrag_torch.many import simulate_many
    args = ["-detector", _write(tmp_path, "tiny.geom", TINY_GEOM)] + "-cell 30 30 30 90 90 90 -default_F 100 -N 3".split()
    shots = list(simulate_many(args, [{"misset": [10.0, 20.0, 30.0], "seed": 4}, {"misset": [1.0, 2.0, 3.0]}]))
    first = simulate(args, params={"misset": [10.0, 20.0, 30.0]})
    assert shots[0].image.shape == (2, 5, 6) and torch.equal(shots[0].image, first)
    assert shots[0].noise.shape == (2, 5, 6) and shots[0].noise.dtype == np.uint16 and shots[1].noise is None


def test_cli_writes_every_panel_file(tmp_path):
    from cli_util import run_cli
    geom = _write(tmp_path, "tiny.geom", TINY_GEOM)
    args = ["-detector", geom, *"-cell 30 30 30 90 90 90 -default_F 100 -N 3 -seed 3".split(),
            "-nxmxfile", "o.nxs", "-cxifile", "o.h5", "-geomfile", "o.geom", "-exptfile", "o.expt",
            "-floatfile", "f.bin", "-npyfile", "o.npy"]
    status, out, err, _ = run_cli(args, tmp_path)
    assert status == 0, err
    stack = np.load(tmp_path / "o.npy")
    for k, name in enumerate(("p0", "p1")):
        raw = np.fromfile(tmp_path / f"f_{name}.bin", dtype="<f4").reshape(5, 6)
        assert np.array_equal(raw, stack[k])
        assert (tmp_path / f"intimage_{name}.img").exists() and (tmp_path / f"noiseimage_{name}.img").exists()
    back = read_geom(str(tmp_path / "o.geom"))
    with h5py.File(tmp_path / "o.h5", "r") as f:
        data = f["data/data"][()]
    for k, p in enumerate(back.panels):
        s0, f0 = p.data_origin
        assert np.array_equal(data[s0:s0 + p.spixels, f0:f0 + p.fpixels], stack[k])
    expt = json.loads((tmp_path / "o.expt").read_text())
    assert len(expt["crystal"][0]["real_space_a"]) == 3 and len(read_nxmx(str(tmp_path / "o.nxs")).panels) == 2
    status, _, err, _ = run_cli(["-detector", geom, "-distance", "100", "-default_F", "1", "-cell", "30"], tmp_path)
    assert status == 2 and err.count("\n") == 1 and "-distance: not with -detector" in err


@pytest.mark.parametrize("out", ["one.expt", "one.nxs"])
def test_single_panel_render_round_trips_through_its_own_geometry(tmp_path, out):
    """Today's flags are the one-panel case: the written geometry renders the same image."""
    from cli_util import run_cli
    crystal = "-cell 70 80 90 90 90 90 -default_F 100 -N 3 -misset 5 6 7 -dtype float64".split()
    det = "-lambda 1.1 -detpixels 24 -pixel 0.5 -distance 60 -Xbeam 5 -Ybeam 7 -detector_rotx 3".split()
    flag = "-exptfile" if out.endswith(".expt") else "-nxmxfile"
    status, _, err, _ = run_cli(crystal + det + [flag, out, "-nonoise", "-nopgm", "-floatfile", "x.bin",
                                                  "-intfile", "x.img"], tmp_path)
    assert status == 0, err
    img = simulate(crystal + det)
    again = simulate(["-detector", str(tmp_path / out)] + crystal)
    if out.endswith(".expt"):       # written in the render's own frame: the very same image
        assert float((again[0] - img).abs().max()) <= T["panel_vs_single_rel_max"] * float(img.max())
    else:                           # NXmx turns the frame (beam to +z); the crystal does not turn
        assert again.shape == (1, 24, 24)


def test_panel_offset_and_rotation_move_the_pixels(tmp_path):
    """A plain (no grad) offset/rotation: the render equals the render of the moved geometry."""
    from nanobrag_torch.io.panel_set import Panel, PanelSet
    from nanobrag_torch.models.panels import panel_frames
    ps = read_geom(_write(tmp_path, "t.geom", TINY_GEOM))
    off = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1]], dtype=torch.float64)
    rot = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0]], dtype=torch.float64)
    f, s, o = panel_frames(ps.panels, off * 1e-3, rot * torch.pi / 180)
    p1 = ps.panels[1]
    c_before = np.asarray(p1.origin_m) + p1.pixel_size_m / 2 * (p1.fpixels * np.asarray(p1.fast) + p1.spixels * np.asarray(p1.slow))
    c_after = (o[1] + p1.pixel_size_m / 2 * (p1.fpixels * f[1] + p1.spixels * s[1])).numpy()
    assert np.allclose(c_after - c_before, [0.3e-3, -0.2e-3, 0.1e-3], atol=1e-15)
    moved = PanelSet(panels=(ps.panels[0], Panel(name="p1", fpixels=6, spixels=5, pixel_size_m=1e-4,
                                                 fast=tuple(f[1].tolist()), slow=tuple(s[1].tolist()),
                                                 origin_m=tuple(o[1].tolist()))), beam=ps.beam, polar=ps.polar)
    text = geom_text(moved, photon_energy_eV=12398.419843320026)
    args = "-cell 30 30 30 90 90 90 -default_F 100 -N 3 -dtype float64 -misset 10 20 30".split()
    a = simulate(["-detector", _write(tmp_path, "t.geom", TINY_GEOM)] + args,
                 params={"panel_offset": off, "panel_rotation": rot})
    b = simulate(["-detector", _write(tmp_path, "m.geom", text)] + args)
    assert float((a - b).abs().max()) <= 1e-9 * float(b.max()) and not torch.equal(a[1], simulate(
        ["-detector", str(tmp_path / "t.geom")] + args)[1])


def test_geom_panels_in_separate_data_blocks_do_not_overlap(tmp_path):
    """EuXFEL-style files place modules by a fixed index of a 3-d array (dim1 = k)."""
    text = GOOD_GEOM.replace("p0/min_fs", "p0/dim1 = 0\np0/min_fs") + "\n".join(
        ["p1/dim1 = 1", "p1/min_fs = 0", "p1/max_fs = 9", "p1/min_ss = 0", "p1/max_ss = 9",
         "p1/corner_x = 10", "p1/corner_y = 0", "p1/fs = +1x", "p1/ss = +1y", "dim0 = %", "dim2 = ss", "dim3 = fs"]) + "\n"
    ps = read_geom(_write(tmp_path, "blocks.geom", text))
    assert [p.data_origin for p in ps.panels] == [(0, 0), (0, 0)]
    again = read_geom(_write(tmp_path, "out.geom", geom_text(ps)))     # written as one 2-d slab
    assert [p.data_origin for p in again.panels] == [(0, 0), (10, 0)]
    for p, q in zip(ps.panels, again.panels):
        assert np.abs(p.centres() - q.centres()).max() * 1e3 <= T["round_trip_mm"]


def test_examples_read():
    sizes = {name: read_detector(str(EX / name)) for name in ("two_by_two.expt", "tilted8.geom", "layout32_4k.expt")}
    assert [len(ps) for ps in sizes.values()] == [4, 8, 32]
    big = sizes["layout32_4k.expt"]
    assert sum(p.fpixels * p.spixels for p in big.panels) == 4096 * 4096
    assert all(p.name.startswith("ILLUSTRATIVE") for p in big.panels)


def test_panel_sensor_from_the_file(tmp_path):
    """A panel's thickness and mu (dxtbx: mm, 1/mm) render as -detector_thick / -detector_abs."""
    doc = json.loads((EX / "two_by_two.expt").read_text())
    for p in doc["detector"][0]["panels"]:
        p.update(image_size=[8, 6], thickness=0.1, mu=2.0)
    path = _write(tmp_path, "thick.expt", json.dumps(doc))
    r = run(["-detector", path] + BASE)
    ps = r.panel_set
    assert ps.panels[0].thickness_m == pytest.approx(1e-4) and ps.panels[0].mu_per_m == pytest.approx(2000.0)
    flags = custom_flags(ps.panels[0], ps.beam, ps.polar) + ["-lambda", "1", "-detector_thick", "100",
                                                             "-detector_abs", "500"]
    alone = simulate(BASE + flags)
    assert float((alone - r.image[0]).abs().max()) <= T["panel_vs_single_rel_max"] * float(r.image.max())
    assert float((r.image[0] - simulate(BASE + flags[:-4])).abs().max()) > 1e-3 * float(r.image.max())


def test_background_components_per_panel(tmp_path):
    """-bg_stol with -detector: each panel (spots + water) equals the single-panel render of that
    panel in the custom convention with the same component flags (acceptance 1's mapping)."""
    bg = "-bg_stol water -bg_thick 0.1 -beamsize 0.1".split()
    r = run(["-detector", _write(tmp_path, "tiny.geom", TINY_GEOM)] + BASE + bg)
    ps, top = r.panel_set, float(r.image.max())
    spots = run(["-detector", str(tmp_path / "tiny.geom")] + BASE)
    for i, p in enumerate(ps.panels):
        flags = custom_flags(p, ps.beam, ps.polar) + ["-lambda", repr(ps.wavelength_m * 1e10)]
        alone = simulate(BASE + bg + flags)
        assert float((alone - r.image[i]).abs().max()) <= T["panel_vs_single_rel_max"] * top
        assert float((r.image[i] - spots.image[i]).min()) > 0            # the background is there


def test_nxmx_written_by_others_chains_through_rotations(tmp_path):
    """A hand-made NXmx (Dectris-like): module_offset depends on a detector translation that
    depends on a two-theta rotation; the nxmx package's matrices are the reference."""
    import nxmx
    path = tmp_path / "other.nxs"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXmx"
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        det = inst.create_group("ELE_D0")
        det.attrs["NX_class"] = "NXdetector"
        tr = det.create_group("transformations")
        tr.attrs["NX_class"] = "NXtransformations"
        two_theta = tr.create_dataset("two_theta", data=[12.5])
        two_theta.attrs.update(transformation_type="rotation", vector=[1.0, 0, 0], units="deg", depends_on=".")
        dz = tr.create_dataset("det_z", data=[0.12])
        dz.attrs.update(transformation_type="translation", vector=[0, 0, 1.0], units="m",
                        depends_on="/entry/instrument/ELE_D0/transformations/two_theta")
        m = det.create_group("module")
        m.attrs["NX_class"] = "NXdetector_module"
        m["data_origin"] = [0, 0]
        m["data_size"] = [7, 9]
        off = m.create_dataset("module_offset", data=[0.0])
        off.attrs.update(transformation_type="translation", vector=[1.0, 0, 0], units="mm",
                         offset=[-40.0, 30.0, 0.0], depends_on="/entry/instrument/ELE_D0/transformations/det_z")
        for name, vec in (("fast_pixel_direction", [1.0, 0, 0]), ("slow_pixel_direction", [0, -1.0, 0])):
            ax = m.create_dataset(name, data=[75.0])
            ax.attrs.update(transformation_type="translation", vector=vec, units="um",
                            depends_on="/entry/instrument/ELE_D0/module/module_offset")
    ps = read_nxmx(str(path))
    p = ps.panels[0]
    with h5py.File(path, "r") as f:
        mod = nxmx.NXmx(f).entries[0].instruments[0].detectors[0].modules[0]
        O = nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(mod.module_offset))[0] @ [0, 0, 0, 1]
        steps = [nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(a))[0] @ [0, 0, 0, 1] - O
                 for a in (mod.fast_pixel_direction, mod.slow_pixel_direction)]
    ours = p.centres() * 1e3
    for i in (0, 6):
        for j in (0, 8):
            theirs = O[:3] + (j + 0.5) * steps[0][:3] + (i + 0.5) * steps[1][:3]
            assert np.abs(theirs - ours[i, j]).max() <= T["nxmx_corner_mm"]
    assert p.pixel_size_m == pytest.approx(75e-6) and (p.fpixels, p.spixels) == (9, 7)
    # a mirrored grid (fast x slow towards the sample) renders like its single-panel equivalent
    r = run(["-detector", str(path), "-lambda", "1"] + BASE)
    alone = simulate(BASE + custom_flags(p, ps.beam, ps.polar) + ["-lambda", "1"])
    assert float(r.image.max()) > 0
    assert float((alone - r.image[0]).abs().max()) <= T["panel_vs_single_rel_max"] * float(r.image.max())
