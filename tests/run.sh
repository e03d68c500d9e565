#!/usr/bin/env bash
# The project's test command (README): every suite, each in its own pytest process.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m ruff check .                       # code checks ([tool.ruff] in pyproject.toml)
lint-imports --no-cache                      # architecture contracts ([tool.importlinter], specs/architecture.md)
python -m pytest -q tests
python -m pytest -q tests/triton_interp      # Triton kernels in the interpreter (TRITON_INTERPRET=1)
python -m pytest -q tests/triton_compile     # AOT cubins for sm_80 / sm_90, zero spills
python -m bench.regression --check           # speed-regression gate (normalised, thresholds per case: bench/regression.py)
