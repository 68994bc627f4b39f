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
    mkdir -p var
    if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".[dev]" > var/setup.log 2>&1; then
        tail -n 30 var/setup.log
        echo "[setup] pip install failed; the whole log is in var/setup.log"
        exit 1
    fi
    .venv/bin/python -c "import torch, onnxruntime, fastapi" # fail here, not later, if the install did not work
    echo "$want" > "$stamp"
fi
