"""noisify.c in the package: detector response (PSF, photon, flicker, calibration and readout
noise, gain, ADC offset, 16/32-bit integers) of a photons/pixel image.

Command line: ``noisify`` / ``python -m nanobrag_torch.noisify`` (`cli.py`); Python API:
`detector_response` (`api.py`); the exact pipeline: `response.respond`.
"""
