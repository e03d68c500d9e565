"""Benchmarks (pytest-benchmark) and the CI speed-regression gate; `bench.cases` is the one
list of named workloads shared with `profiling/`."""
