#!/usr/bin/env bash
# The project's test command (README): every suite, each in its own pytest process.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q tests
