"""Detector-response flags of the nanoBragg command line: noisify.c run on the rendered float
image in the same command (``nanoBragg ... -response_noisefile noisy.img -readout 3 -psf
gauss -psf_fwhm 100``). The files equal nanoBragg.c's ``-floatfile`` (with ``-bg_*``
backgrounds: plus nonBragg.c's, summed by float_add) fed to noisify.c with the same flags
(mapping in specs/cli.md, "Detector response"). nanoBragg's own ``-seed``, ``-adc``,
``-scale``, ``-nonoise``, ``-intfile``, ``-noisefile`` and ``-pgmfile`` keep their meaning;
noisify's flags of those names are spelled ``-response_*`` here."""
from __future__ import annotations

from .flag_kinds import Flag, _path, _seed, _setter, _switch
from .noisify.flag_table import NOISIFY_FLAGS

# noisify's own flags whose names nanoBragg.c does not use: the same Flag objects.
_SHARED = ("-readout", "-flicker", "-calibration", "-calib_seed", "-gain", "-psf", "-psf_fwhm",
           "-psf_radius", "-bits")

FLAGS = [flag for flag in NOISIFY_FLAGS if flag.names[0] in _SHARED] + [
    Flag(("-response_intfile",), 1, _path("response_intfile"), "noisify's noiseless SMV image"),
    Flag(("-response_noisefile",), 1, _path("response_noisefile"), "noisify's noise SMV image"),
    Flag(("-response_pgmfile",), 1, _path("response_pgmfile"), "noisify's PGM"),
    Flag(("-response_nonoise",), 0, _switch(response_nonoise=True), "noisify's -nonoise"),
    Flag(("-response_seed",), 1, _seed("response_seed"), "noisify's -seed (default: -seed)"),
    Flag(("-response_adc",), 1, _setter("response_adc"), "noisify's -adc (default 40)"),
    Flag(("-response_scale",), 1, _setter("response_scale"), "noisify's -scale (default 1)"),
]


def requested(s) -> bool:
    """Whether the nanoBragg settings ask for detector-response files (`noisify.chain`)."""
    return bool(s.response_intfile or s.response_noisefile or s.response_pgmfile)


def output_paths(s) -> list:
    """The response files the settings will write."""
    return [p for p in (s.response_intfile, s.response_pgmfile,
                        None if s.response_nonoise else s.response_noisefile) if p]
