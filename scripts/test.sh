#!/usr/bin/env bash
# The whole test run, as CI does it: environment, lint, types, tests. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Job tests start a private redis-server on 127.0.0.1 and a real Celery worker process; the canary
# report is rendered by headless Chromium. Both come from Debian's packages.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
if [ -n "$missing" ]; then
    echo "[test] installing$missing (Debian packages)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq $missing >/dev/null
fi
echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
echo "[test] mypy"
.venv/bin/mypy
echo "[test] import contracts (core <- training <- worker; core <- service)"
.venv/bin/lint-imports --no-cache
echo "[test] pytest"
.venv/bin/python -m pytest "$@"
