"""nonBragg: amorphous-material background (water, air, ice) from S(Q)/F(stol) tables.

`background(args)` / `run(args)` (see `nonbragg.api`), loaded on first use: the nanoBragg
command line imports `nonbragg.components` without the nonBragg program."""


def __getattr__(name):
    if name in ("background", "run"):
        from . import api
        return getattr(api, name)
    raise AttributeError(name)
