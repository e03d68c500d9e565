"""4096^2 profiling suite and vectorization-gap audit: ``python -m profiling run|audit``.

Shares its named cases with `bench/` (bench/cases.py)."""
