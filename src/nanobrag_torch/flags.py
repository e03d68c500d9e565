"""Command-line flags of nanoBragg.c, parsed strictly.

nanoBragg.c matches options with ``strstr`` and silently ignores anything it does not
recognise.  Here every flag has exact names (the C's spellings and aliases), a fixed
number of values that are checked, and an unknown flag is an error that suggests the
closest known one.  Flags are applied in command-line order, like the C, so the last of
two conflicting flags wins.  Deliberate differences from the C are listed in
``specs/cli.md``; two of the C's ``strstr`` side effects are reproduced as quirks in
``-quirks c`` (see ``specs/quirks.md``).
"""
from __future__ import annotations

import difflib
import re

from . import flags_background, flags_detector, flags_formats, flags_response
from .errors import NanoBraggError
from .flag_kinds import RTD, Flag
from .flag_table import NANOBRAGG_FLAGS
from .settings import Settings

# Every flag of the nanoBragg command line: the C's, then each feature's own table.
_FLAGS: list[Flag] = [*NANOBRAGG_FLAGS, *flags_formats.FLAGS, *flags_detector.FLAGS, *flags_response.FLAGS,
                      *flags_background.FLAGS]

FLAGS: dict = {name: flag for flag in _FLAGS for name in flag.names}


def _take_values(argv: list, i: int, flag: Flag, name: str) -> list:
    """Values of the flag at argv[i]; nargs < 0 means 'up to -nargs numbers' (C-like)."""
    rest = argv[i + 1:]
    if name == "-misset_seed" and rest:
        # strstr also runs -misset on it (quirk 8): up to two more numbers are its angles
        extra = []
        for text in rest[1:3]:
            if not _is_number(text):
                break
            extra.append(text)
        return rest[:1] + extra
    if flag.nargs >= 0:
        if len(rest) < flag.nargs:
            raise NanoBraggError(f"{name}: expects {flag.nargs} value(s), got {len(rest)}")
        return rest[:flag.nargs]
    if name == "-misset":
        if rest and "rand" in rest[0]:
            return rest[:1]
        if len(rest) < 3:
            raise NanoBraggError(f"{name}: expects three angles (deg) or 'random'")
        return rest[:3]
    # -cell: the C reads values until one starts with '-'
    vals = []
    for text in rest[:-flag.nargs]:
        if text.startswith("-"):
            break
        vals.append(text)
    if not vals:
        raise NanoBraggError(f"{name}: expects up to six values (a b c alpha beta gamma)")
    return vals


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def split_args(argv: list, table: dict | None = None, positional=None) -> list:
    """Split an argument list into [(flag_name, values, is_last)] in order; unknown flags are
    errors. ``table`` maps names to `Flag` (default: the nanoBragg command line's);
    ``positional(arg)`` says whether a bare argument is accepted (as ``("", [arg], ...)``)."""
    table = FLAGS if table is None else table
    out, i = [], 0
    argv = [str(a) for a in argv]
    while i < len(argv):
        name = argv[i]
        flag = table.get(name)
        if flag is None:
            if positional is not None and positional(name):
                out.append(("", [name], i == len(argv) - 1))
                i += 1
                continue
            if not name.startswith("-"):
                raise NanoBraggError(f"unexpected argument '{name}' (values must follow their flag)")
            close = difflib.get_close_matches(name, list(table), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise NanoBraggError(f"unknown flag {name}{hint}")
        vals = _take_values(argv, i, flag, name)
        out.append((name, vals, i == len(argv) - 1 - len(vals)))
        i += 1 + len(vals)
    return out


def apply_flags(settings: Settings, parsed: list, quirks: str, table: dict | None = None) -> None:
    """Apply parsed flags in order.  In ``c`` mode reproduce the C's strstr side effects:
    ``-misset_seed N a b`` also runs the ``-misset`` parser, ``-twotheta_axis x y z`` also
    runs ``-twotheta`` (angle x, pivot sample), and ``-curved_det`` as the last argument
    is ignored.  `table`: as for `split_args`."""
    table = FLAGS if table is None else table
    for name, vals, is_last in parsed:
        if quirks == "c" and name in ("-curved_det", "-curved_detector") and is_last:
            continue
        if quirks != "c" and name == "-misset_seed" and len(vals) > 1:
            raise NanoBraggError(f"unexpected argument '{vals[1]}' (values must follow their flag; "
                                 "-misset_seed N a b sets misset angles only in -quirks c)")
        table[name].apply(settings, name, vals)
        if quirks == "c" and name == "-twotheta_axis":
            table["-twotheta"].apply(settings, "-twotheta", vals[:1])
        if quirks == "c" and name == "-misset_seed":
            # strstr("-misset_seed", "-misset") fires: angles (N, argv[i+2], argv[i+3]) read with atof
            nxt = _raw_after(parsed, name, vals)
            if nxt is not None:
                settings.misset_mode = "angles"
                settings.misset_rad = [c_atof(t) / RTD for t in [vals[0]] + nxt]


def c_atof(text: str) -> float:
    """C atof: the longest leading decimal number, 0.0 if there is none."""
    m = re.match(r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)", text, re.I)
    return float(m.group(0)) if m else 0.0


def _raw_after(parsed, name, vals):
    """The two raw arguments after a flag's value (argv[i+2], argv[i+3]), None past the end."""
    raw = []
    for n, v, _ in parsed:
        raw.extend([n] + list(v))
    for k, tok in enumerate(raw):
        if tok == name and raw[k + 1] == vals[0]:
            return raw[k + 2:k + 4] if k + 3 < len(raw) else None
    return None


def quirks_mode(parsed: list) -> str:
    """The last ``-quirks`` value of a parsed command line (default ``c``)."""
    mode = "c"
    for name, vals, _ in parsed:
        if name == "-quirks":
            mode = vals[0]
    return mode


def usage(flags: list | None = None, head: str = "usage: nanoBragg -cell a b c al be ga | -mat "
          "A.mat  -hkl F.hkl | -default_F F  [flags]\nflags (as nanoBragg.c; see specs/cli.md):") -> str:
    """One line per flag of `flags` (default the nanoBragg table; aliases together), for -h."""
    lines = [head]
    for flag in (_FLAGS if flags is None else flags):
        arity = {0: "", -6: " a [b c al be ga]", -3: " x y z|random"}.get(flag.nargs, " V" * flag.nargs)
        lines.append(f"  {' | '.join(flag.names)}{arity}" + (f"   ({flag.help})" if flag.help else ""))
    return "\n".join(lines)
