"""``nb-hkl``: write the P1 ``h k l F`` list (and Fdump) that ``-mtz`` / ``-model`` render from,
so that nanoBragg.c can be given the same structure factors.

    nb-hkl -mtz data.mtz [-mtz_column FP] -hklout P1.hkl [-dumpout Fdump.bin]
    nb-hkl -model model.cif [-model_dmin 2.0 | nanoBragg geometry flags] -hklout P1.hkl

Every other flag is a nanoBragg flag: without ``-model_dmin`` a model's |F| reach the
resolution that nanoBragg's detector corners need for those flags, exactly the list a
``nanoBragg -model`` render with the same flags uses.  Prints the cell to give the C
(``-cell ...``).  Errors: one line ``nb-hkl: error: ...``, status 2, no file written.
"""
from __future__ import annotations

import sys

from .errors import NanoBraggError, run_command
from .io.atomic import OutputBatch, check_output_path
from .io.hkl import p1_reflections, table_from_reflections, write_fdump, write_hkl
from .io.mtz import MtzFile
from .io.structure import ModelFile
from .precompute import table_dmin
from .simulate import configure

OUTPUTS = ("-hklout", "-dumpout")


def _split(argv: list) -> tuple[dict, list]:
    """(our output flags -> path, the remaining nanoBragg flags)."""
    out, rest, i = {}, [], 0
    while i < len(argv):
        if argv[i] in OUTPUTS:
            if i + 1 >= len(argv):
                raise NanoBraggError(f"{argv[i]}: expects a file name")
            out[argv[i]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return out, rest


def convert(argv: list, out=print) -> None:
    """Write the files `argv` asks for (see the module docstring)."""
    paths, flags = _split([str(a) for a in argv])
    if not paths:
        raise NanoBraggError("give -hklout FILE and/or -dumpout FILE")
    for path in paths.values():
        check_output_path(path)
    s, cfg = configure(flags)
    source = cfg.crystal.hklfile
    if not isinstance(source, (MtzFile, ModelFile)):
        raise NanoBraggError("give -mtz FILE or -model FILE")
    refl = p1_reflections(source, table_dmin(cfg))
    out(refl.source)
    out("cell for nanoBragg.c: -cell " + " ".join(repr(float(x)) for x in refl.cell))
    with OutputBatch(durable=False) as batch:
        if "-hklout" in paths:
            write_hkl(paths["-hklout"], refl.hkl, refl.F, batch)
        if "-dumpout" in paths:
            write_fdump(paths["-dumpout"], table_from_reflections(source.path, refl.hkl, refl.F, 0.0),
                        batch)


def main(argv: list | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command("nb-hkl", argv, convert, lambda: __doc__)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
