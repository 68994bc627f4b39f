#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv (idempotent, fast when up to date).
# torch==2.13.0 is the CPU build that pip takes from this machine's disk (see pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.steadyrec-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[setup] installing steadyrec and its dependencies into .venv (about a minute)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import torch, onnxruntime, fastapi" # fail here, not later, if the install did not work
    echo "$want" > "$stamp"
fi
