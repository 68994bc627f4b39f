#!/usr/bin/env bash
# Brings the docker compose deployment up and walks docs/deploy.md's "Deployment with docker compose" flow
# against it, as a user would: build, up --wait, copy a small trained artifact and its dataset into the
# volumes, register it as live, restart the API with the seed log, POST /events, POST /jobs/finetune,
# poll the job to success, canary, promote, scale the API to two replicas behind the entry point and
# check that both serve the promoted model, then down -v. Exits 0 with "skipped: ..." where no Docker
# engine (or no Compose v2 plugin) is available.
#
# It runs as its own compose project (steadyrec-smoke: its own containers and volumes, removed at the
# end), on 127.0.0.1:${SMOKE_PORT:-18000}, so a deployment of yours is left alone. Needs .venv (bash
# scripts/setup.sh) to train the small model, and curl.
#
# Knobs for machines whose builds cannot reach download.pytorch.org or whose engine runs without a
# default bridge (dockerd --bridge=none):
#   SMOKE_WHEELS=DIR   a directory holding the torch 2.13.0 wheel: its dependencies are downloaded next
#                      to it (PyPI), it is served as the worker build's torch index on 127.0.0.1, and
#                      the builds use the host network (docker/docker-compose.smoke.yml)
#   SMOKE_HOST_BUILD=1 builds use the host network (set by itself when the engine has no bridge network)
#   SMOKE_KEEP=1       leave the stack up at the end (down -v by hand)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[compose-smoke] $*"; }
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    say "skipped: no docker engine (docker info failed)"
    exit 0
fi
if ! docker compose version >/dev/null 2>&1; then
    say "skipped: no Docker Compose v2 plugin (docker compose version failed)"
    exit 0
fi
SR=${STEADYREC_BIN:-.venv/bin/steadyrec}
if [ ! -x "$SR" ]; then
    say "no $SR: run bash scripts/setup.sh first (the smoke test trains a small model with it)"
    exit 1
fi
command -v curl >/dev/null || { say "curl is needed"; exit 1; }
PY=${PYTHON:-python3}

WORK=$(mktemp -d)
PORT=${SMOKE_PORT:-18000}
BASE="http://127.0.0.1:$PORT"
export STEADYREC_PORT=$PORT
STEADYREC_TOKEN=$($PY -c "import secrets; print(secrets.token_urlsafe(24))")
STEADYREC_DB_PASSWORD=$($PY -c "import secrets; print(secrets.token_urlsafe(18))")
export STEADYREC_TOKEN STEADYREC_DB_PASSWORD
unset STEADYREC_SEED_LOG STEADYREC_SEED_LOG_FORMAT STEADYREC_ADMIN_TOKEN
H="Authorization: Bearer $STEADYREC_TOKEN"
J='Content-Type: application/json'

files=(-f docker/docker-compose.yml)
index_pid=""
if [ -n "${SMOKE_WHEELS:-}" ] || [ "${SMOKE_HOST_BUILD:-0}" = 1 ] || ! docker network inspect bridge >/dev/null 2>&1; then
    files+=(-f docker/docker-compose.smoke.yml)
    say "builds use the host network (docker/docker-compose.smoke.yml)"
fi
if [ -n "${SMOKE_WHEELS:-}" ]; then
    torch_wheel=$(ls "$SMOKE_WHEELS"/torch-2.13.0*cp311*.whl | head -n1)
    mkdir -p "$WORK/wheels" "$WORK/index"
    cp "$torch_wheel" "$WORK/wheels/"
    "$PY" -m pip download -q -d "$WORK/wheels" --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 "$WORK/wheels/$(basename "$torch_wheel")"
    for wheel in "$WORK"/wheels/*.whl; do  # a PEP 503 simple index: one folder per normalised name
        name=$(basename "$wheel" | cut -d- -f1 | tr '[:upper:]_.' '[:lower:]--')
        mkdir -p "$WORK/index/$name" && cp "$wheel" "$WORK/index/$name/"
    done
    index_port=${SMOKE_INDEX_PORT:-18765}
    "$PY" -m http.server "$index_port" --bind 127.0.0.1 --directory "$WORK/index" >"$WORK/index.log" 2>&1 &
    index_pid=$!
    export SMOKE_TORCH_INDEX="http://127.0.0.1:$index_port/"
    say "torch for the worker image from $SMOKE_TORCH_INDEX ($(basename "$torch_wheel"))"
fi
C=(docker compose -p steadyrec-smoke "${files[@]}")

status=1
finish() {
    if [ "$status" != 0 ]; then
        say "FAILED; the services' last log lines:"
        "${C[@]}" ps -a || true
        "${C[@]}" logs --no-color --tail 60 || true
    fi
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then
        say "left up (SMOKE_KEEP=1): ${C[*]} down -v"
    else
        "${C[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    if [ -n "$index_pid" ]; then kill "$index_pid" 2>/dev/null || true; fi
    rm -rf "$WORK"
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

json() { "$PY" -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
# curl that prints the body and fails on an unexpected status: call URL EXPECTED_CODE [curl args...]
call() {
    local url=$1 want=$2 code
    shift 2
    code=$(curl -s -o "$WORK/body" -w '%{http_code}' "$@" "$BASE$url")
    if [ "$code" != "$want" ]; then
        say "$url answered $code (expected $want): $(head -c 2000 "$WORK/body")" >&2
        return 1
    fi
    cat "$WORK/body"
}

say "1/10 a small model: synthetic log and a SASRec trained on it (about a minute)"
mkdir -p "$WORK/data"
"$SR" synth --out "$WORK/data/synth.tsv" >/dev/null
"$SR" train --data "$WORK/data/synth.tsv" --out "$WORK/runs/v1" --epochs 15 --set hidden=64 --set max_len=50 \
    --export >"$WORK/train.log" 2>&1 || { cat "$WORK/train.log"; exit 1; }

say "2/10 build and start: ${C[*]} up -d --build --wait"
"${C[@]}" build
"${C[@]}" up -d --wait
"${C[@]}" ps

say "3/10 copy the dataset and the artifact in, register it as live"
"${C[@]}" cp "$WORK/data/synth.tsv" api:/data/datasets/synth.tsv
"${C[@]}" cp "$WORK/runs/v1" api:/tmp/v1
"${C[@]}" exec -T api steadyrec register /tmp/v1 --version v1 --alias live

say "4/10 restart the API with the seed log (users to answer and to replay in the canary)"
STEADYREC_SEED_LOG=/data/datasets/synth.tsv "${C[@]}" up -d --wait api
for _ in $(seq 1 60); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ] && break
    sleep 1
done
call /readyz 200 >/dev/null
call /recommend 200 -X POST -H "$J" -d '{"user_id": "u0", "k": 5}'
echo

say "5/10 POST /events"
call /events 200 -X POST -H "$H" -H "$J" -d '{"events": [{"user": "u0", "item": "i17", "timestamp": 1700000000}]}'
echo

say "6/10 POST /jobs/finetune (FINEST, its default 2 epochs, on the base's training log found by name in the volume)"
job=$(call /jobs/finetune 202 -X POST -H "$H" -H "$J" -d '{"method": "finest", "base": "live"}' | json 'd["id"]')
say "job $job"
state=""
for _ in $(seq 1 600); do
    state=$(call "/jobs/$job" 200 -H "$H" | json 'd["state"]')
    case $state in succeeded | failed | cancelled) break ;; esac
    sleep 2
done
call "/jobs/$job" 200 -H "$H"
echo
[ "$state" = succeeded ] || { say "job ended $state"; exit 1; }
candidate="cand-$job"

say "7/10 canary of $candidate against live (default policy: min_samples 200, replayed seed-log users)"
call "/models/$candidate/canary" 200 -X POST -H "$H" -H "$J" -d '{}' >"$WORK/verdict.json"
json 'json.dumps({k: d[k] for k in ("live", "candidate", "passed", "failures", "figures") if k in d})' <"$WORK/verdict.json"
[ "$(json 'd["passed"]' <"$WORK/verdict.json")" = True ] || { say "the canary did not pass"; exit 1; }
call "/models/$candidate/canary?format=html" 200 >/dev/null

say "8/10 promote $candidate"
call "/models/$candidate/promote" 200 -X POST -H "$H" -H "$J" -d '{}'
echo
live=$(call /models 200 | json 'd["aliases"]["live"]')
[ "$live" = "$candidate" ] || { say "live is $live, not $candidate"; exit 1; }
call /recommend 200 -X POST -H "$J" -d '{"user_id": "u0", "k": 5}'
echo

say "9/10 two API replicas behind the one entry point: up --scale api=2"
ASK_REPLICA='
import json, urllib.request
body = json.dumps({"user_id": "u0", "k": 5}).encode()
request = urllib.request.Request("http://127.0.0.1:8000/recommend", data=body, headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request))["model_version"])'

STEADYREC_SEED_LOG=/data/datasets/synth.tsv "${C[@]}" up -d --wait --scale api=2 api
[ "$("${C[@]}" ps -q api | wc -l)" = 2 ] || { say "expected 2 api replicas"; "${C[@]}" ps; exit 1; }
for replica in 1 2; do  # each replica, asked directly, answers with the promoted model
    served=$("${C[@]}" exec -T --index "$replica" api python -c "$ASK_REPLICA")
    [ "$served" = "$candidate" ] || { say "replica $replica serves $served, not $candidate"; exit 1; }
done
for _ in $(seq 1 20); do call /recommend 200 -X POST -H "$J" -d '{"user_id": "u0", "k": 5}' >/dev/null; done
say "both replicas serve $candidate; 20 requests through the entry point answered 200"

say "10/10 down -v"
status=0
say "passed: the compose walk-through of docs/deploy.md works on this engine ($(docker version -f '{{.Server.Version}}'), $(docker compose version --short))"
