"""SMV (ADSC ``.img``) images: the C's GetFrame/ValueOf reader and its intfile/noisefile writer.

An SMV file is a text header ``{\\nHEADER_BYTES=512;\\nDIM=2;\\n...KEY=value;\\n...}\\f`` padded
with spaces to HEADER_BYTES bytes, followed by SIZE2 rows (slow) of SIZE1 (fast) uint16 pixels.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import OutputBatch, atomic_write, read_input

SMV_HEADER_BYTES = 512
# GetFrame only compares the first 12 characters of this string.
_MAGIC = b"{\nHEADER_BYT"
# The longest prefix C's atof() converts (after leading whitespace): glibc's hexadecimal
# form (0x1.8p3), decimal, inf, nan.
_ATOF = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)(0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?\d+)?|"
    r"(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf(?:inity)?|nan)",
    re.IGNORECASE)


def _atof(text: str) -> float:
    """C ``atof``: convert the longest numeric prefix of ``text``; 0.0 if there is none."""
    match = _ATOF.match(text)
    if not match:
        return 0.0
    sign, number = match.groups()
    if number[:2].lower() != "0x":
        return float(sign + number)
    try:
        return float.fromhex(sign + number)
    except OverflowError:
        return float(sign + "inf")


@dataclass(frozen=True, eq=False)
class SMVImage:
    """An SMV image as read by :func:`read_smv`.

    header: header text (first ``header_bytes`` bytes, cut at the first NUL as C strings are);
    fields: ``KEY -> value`` strings from the ``KEY=value;`` lines (last occurrence wins);
    width: SIZE1 (fast pixels); height: SIZE2 (slow pixels); header_bytes: HEADER_BYTES;
    data: uint16 [height, width], native byte order, already converted from BYTE_ORDER.
    """

    header: str
    fields: dict[str, str] = field(repr=False)
    width: int
    height: int
    header_bytes: int
    data: np.ndarray = field(repr=False)

    def value_of(self, key: str) -> float:
        """The C's ``ValueOf``: number after the ``=`` following the LAST occurrence of ``key``.

        ``key`` is matched as a substring anywhere in the header (so ``"ORGX"`` finds
        ``XDS_ORGX=`` and ``"DISTANCE"`` finds ``CLOSE_DISTANCE=`` when that comes later);
        NaN when ``key`` does not occur, 0.0 when no ``=`` follows it or no number follows
        the ``=``.
        """
        return _value_of(self.header, key)


def _value_of(header: str, key: str) -> float:
    pos = -1
    start = 0
    while (found := header.find(key, start)) >= 0:  # non-overlapping scan, like strstr()
        pos = found
        start = found + len(key)
    if pos < 0:
        return math.nan
    equals = header.find("=", pos + len(key))
    return 0.0 if equals < 0 else _atof(header[equals + 1:])


def _parse_fields(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in header.split("\n"):
        if line.startswith("}"):
            break
        if "=" in line:
            key, value = line.split("=", 1)
            fields[key.strip()] = value.strip().rstrip(";").strip()
    return fields


def read_smv(path: str | os.PathLike) -> SMVImage:
    """Read an SMV file the way nanoBragg's GetFrame does (for ``-mask`` and ``-img``).

    Width/height come from SIZE1/SIZE2 (DETECTOR_DIMENSIONS for both when SIZE1 is absent or
    0). Pixels start at byte ``2*(HEADER_BYTES//2)`` as in the C. Unlike the C, which ignores
    its own byte-swap flag, BYTE_ORDER is honoured: values not starting with ``little_end``
    mean big-endian (an absent BYTE_ORDER means little-endian).

    Raises:
        NanoBraggError: missing file, not an SMV header, bad HEADER_BYTES or size keys, or
            fewer pixel bytes than SIZE1*SIZE2*2.
    """
    name = os.fspath(path)
    raw = read_input(path)
    header_raw, header = _split_header(name, raw)
    header_bytes = len(header_raw)
    fields = _parse_fields(header)

    width, height = _value_of(header, "SIZE1"), _value_of(header, "SIZE2")
    if math.isnan(width) or width == 0:
        width = height = _value_of(header, "DETECTOR_DIMENSIONS")
    if not all(math.isfinite(n) and n >= 1 for n in (width, height)):
        raise NanoBraggError(f"{name}: SMV header lacks valid SIZE1/SIZE2 image dimensions")
    width, height = int(width), int(height)

    order = fields.get("BYTE_ORDER", "little_endian")
    dtype = np.dtype("<u2") if order.startswith("little_end") else np.dtype(">u2")
    start = 2 * (header_bytes // 2)
    needed = 2 * width * height
    if len(raw) - start < needed:
        raise NanoBraggError(f"{name}: truncated SMV image: {len(raw) - start} pixel bytes, "
                             f"expected {needed} for {width}x{height}")
    data = np.frombuffer(raw, dtype=dtype, count=width * height, offset=start)
    data = data.astype(np.uint16).reshape(height, width)
    return SMVImage(header, fields, width, height, header_bytes, data)


def read_smv_header(path: str | os.PathLike) -> tuple[bytes, str]:
    """The header of an SMV file as GetFrame reads it: (the first HEADER_BYTES bytes, verbatim;
    their text up to the first NUL, for :func:`value_of`). Pixels are not read.

    Raises:
        NanoBraggError: missing file, not an SMV header, or a bad HEADER_BYTES.
    """
    return _split_header(os.fspath(path), read_input(path))


def _split_header(name: str, raw: bytes) -> tuple[bytes, str]:
    if len(raw) < SMV_HEADER_BYTES or not raw.startswith(_MAGIC):
        raise NanoBraggError(f"{name}: not an SMV image (expected a '{{ HEADER_BYTES=...' header)")
    size = _value_of(raw[:SMV_HEADER_BYTES].split(b"\0", 1)[0].decode("latin-1"), "HEADER_BYTES")
    if not (math.isfinite(size) and 0 < size <= len(raw)):
        raise NanoBraggError(f"{name}: invalid HEADER_BYTES ({size:g}) for a {len(raw)}-byte file")
    header = raw[:int(size)]
    return header, header.split(b"\0", 1)[0].decode("latin-1")


def value_of(header: str, key: str) -> float:
    """The C's ``ValueOf`` on header text (see :meth:`SMVImage.value_of`)."""
    return _value_of(header, key)


def _g(value: float, spec: str = "%g") -> str:
    """C ``printf(spec)`` of a double (``%g`` unless told; glibc prints a negative NaN as
    ``-nan``)."""
    if math.isnan(value) and math.copysign(1.0, value) < 0:
        return "-nan"
    return spec % value


def smv_fields(*, fpixels: int, spixels: int, pixel_size_m: float, distance_m: float,
               lambda_m: float, Xbeam_m: float, Ybeam_m: float, Fbeam_m: float, Sbeam_m: float,
               detsize_s_m: float, dials_origin_mm: tuple[float, float, float], ORGX: float,
               ORGY: float, close_distance_m: float, phi0_deg: float, osc_deg: float,
               twotheta_deg: float, noise: bool) -> list[tuple[str, str]]:
    """The ordered header keys and ``%g`` values nanoBragg writes to its SMV outputs.

    Lengths in metres (written in mm), wavelength in metres (written in Angstrom), angles in
    degrees (to match the C to the last bit pass ``angle_rad * (180/M_PI)``), dials origin in
    mm, ORGX/ORGY in pixels. ``noise`` selects the noisefile block, whose DENZO values are
    ``(Sbeam+0.0*pixel)*1000`` instead of the intfile's ``(Sbeam-0.0*pixel)*1000`` (they differ
    only for a beam centre of -0.0, printed ``0`` vs ``-0``).
    """
    if noise:
        denzo = ((Sbeam_m + 0.0 * pixel_size_m) * 1000.0, (Fbeam_m + 0.0 * pixel_size_m) * 1000)
    else:
        denzo = ((Sbeam_m - 0.0 * pixel_size_m) * 1000.0, (Fbeam_m - 0.0 * pixel_size_m) * 1000)
    return [
        ("HEADER_BYTES", "512"),
        ("DIM", "2"),
        ("BYTE_ORDER", "little_endian"),
        ("TYPE", "unsigned_short"),
        ("SIZE1", "%d" % fpixels),
        ("SIZE2", "%d" % spixels),
        ("PIXEL_SIZE", _g(pixel_size_m * 1000.0)),
        ("DISTANCE", _g(distance_m * 1000.0)),
        ("WAVELENGTH", _g(lambda_m * 1e10)),
        ("BEAM_CENTER_X", _g(Xbeam_m * 1000.0)),
        ("BEAM_CENTER_Y", _g(Ybeam_m * 1000)),
        ("ADXV_CENTER_X", _g(Fbeam_m * 1000.0)),
        ("ADXV_CENTER_Y", _g((detsize_s_m - Sbeam_m) * 1000)),
        ("MOSFLM_CENTER_X", _g((Sbeam_m - 0.5 * pixel_size_m) * 1000.0)),
        ("MOSFLM_CENTER_Y", _g((Fbeam_m - 0.5 * pixel_size_m) * 1000)),
        ("DENZO_X_BEAM", _g(denzo[0])),
        ("DENZO_Y_BEAM", _g(denzo[1])),
        ("DIALS_ORIGIN", ",".join(_g(v) for v in dials_origin_mm)),
        ("XDS_ORGX", _g(ORGX)),
        ("XDS_ORGY", _g(ORGY)),
        ("CLOSE_DISTANCE", _g(close_distance_m * 1000.0)),
        ("PHI", _g(phi0_deg)),
        ("OSC_START", _g(phi0_deg)),
        ("OSC_RANGE", _g(osc_deg)),
        ("TWOTHETA", _g(twotheta_deg)),
        ("DETECTOR_SN", "000"),
        ("BEAMLINE", "fake"),
    ]


def format_smv_header(fields: list[tuple[str, str]], overrun: bool = False) -> bytes:
    """The exact header the C writes: ``{\n``, ``KEY=value;\n`` per field (no ``;`` after
    DIALS_ORIGIN), ``}\f``, then spaces up to 512 bytes.  A header that does not fit (long
    numbers: custom vectors, two-theta, negative centres) grows to the next multiple of 512
    bytes with HEADER_BYTES set to match; with ``overrun`` (`smv_overrun`, ``-quirks c``) it
    stays as the C writes it: longer than its HEADER_BYTES=512, the pixels right after it."""
    size = SMV_HEADER_BYTES
    while True:
        lines = "".join(
            f"{key}={size if key == 'HEADER_BYTES' else value}"
            + ("\n" if key == "DIALS_ORIGIN" else ";\n") for key, value in fields)
        text = ("{\n" + lines + "}\f").encode("ascii")
        if len(text) <= size or overrun:
            return text.ljust(size, b" ")
        size += SMV_HEADER_BYTES


def smv_overrun(fields: list[tuple[str, str]], quirks: str) -> bool:
    """Whether to write ``fields``' header as the C does although it overruns its 512 bytes
    (quirk 13: ``-quirks c``), warning on stderr that the file misplaces its pixels."""
    if quirks != "c" or len(format_smv_header(fields)) == SMV_HEADER_BYTES:
        return False
    print("WARNING: the SMV header is longer than its HEADER_BYTES=512 (as the C writes it, "
          "the pixels follow it unaligned); -quirks fixed writes a readable file", file=sys.stderr)
    return True


def write_smv(path: str | os.PathLike, image: np.ndarray, fields: list[tuple[str, str]],
              batch: OutputBatch | None = None, header: bytes | None = None,
              overrun: bool = False) -> None:
    """Write an SMV file atomically: header from ``fields`` (or the bytes ``header``, verbatim)
    then the pixels; ``overrun`` as `format_smv_header`.

    Args:
        image: uint16 or uint32 [slow, fast]; must match SIZE2/SIZE1 when those fields are given.
        fields: ordered (key, value) pairs, e.g. from :func:`smv_fields`; pixels are written in
            the byte order named by BYTE_ORDER (little-endian unless it says ``big_endian``).
        batch: stage the file into this :class:`OutputBatch` instead of writing it now.
    """
    if image.dtype not in (np.uint16, np.uint32) or image.ndim != 2:
        raise ValueError(f"SMV image must be 2-D uint16/uint32, got {image.dtype} {image.shape}")
    given = dict(fields)
    for key, size in (("SIZE1", image.shape[1]), ("SIZE2", image.shape[0])):
        if key in given and int(given[key]) != size:
            raise ValueError(f"{key}={given[key]} does not match image shape {image.shape}")
    order = "<" if given.get("BYTE_ORDER", "little_endian").startswith("little_end") else ">"
    pixels = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder(order))
    atomic_write(path, (format_smv_header(fields, overrun) if header is None else header,
                        memoryview(pixels).cast("B")), batch)
