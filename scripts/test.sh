#!/usr/bin/env bash
# The whole test run, as CI does it: environment, lint, types, tests. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Tests start a private redis-server and a private PostgreSQL cluster on 127.0.0.1 (initdb and pg_ctl
# from `pg_config --bindir`, run as the postgres user) and a real Celery worker process; the canary
# report and the dashboard are rendered by headless Chromium (driven through chromedriver). All come from
# Debian's packages.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
pg_bin=$(pg_config --bindir 2>/dev/null || true)
if { [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; } && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
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
