#!/usr/bin/env bash
# The main job on a fresh machine, with no Redis, no GPU and no ../shared: set up the environment,
# train a small SASRec on a synthetic log if no live model exists, export it to ONNX, register it as
# live, start the service and a fine-tune worker (embedded SQLite broker), and show a working
# /recommend call. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SR=.venv/bin/steadyrec
export STEADYREC_MODELS_DIR=${STEADYREC_MODELS_DIR:-var/models}
export STEADYREC_SEED_LOG=${STEADYREC_SEED_LOG:-var/data/demo.tsv}
export STEADYREC_DEMO_MODE=1
export STEADYREC_DATA_DIR=${STEADYREC_DATA_DIR:-var/data}
unset REDIS_URL  # the demo uses the embedded broker; docker compose uses Redis
PORT=${PORT:-8000}
mkdir -p var
if [ ! -f var/token ]; then .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(24))" > var/token; fi
export STEADYREC_TOKEN=${STEADYREC_TOKEN:-$(cat var/token)}

if [ ! -f "$STEADYREC_SEED_LOG" ]; then
    $SR synth --out "$STEADYREC_SEED_LOG"
fi
if [ ! -f "$STEADYREC_MODELS_DIR/aliases.json" ] || ! grep -q '"live"' "$STEADYREC_MODELS_DIR/aliases.json"; then
    echo "[demo] no live model: training a small SASRec on $STEADYREC_SEED_LOG"
    rm -rf var/runs/demo
    $SR train --data "$STEADYREC_SEED_LOG" --out var/runs/demo --epochs 15 --set hidden=64 --set max_len=50 --export
    version="demo-$(date +%Y%m%d-%H%M%S)"
    $SR register var/runs/demo --version "$version" --alias live
fi

$SR worker --log-level warning > var/worker.log 2>&1 &
worker=$!
$SR serve --port "$PORT" --log-level warning &
server=$!
trap 'kill $server $worker 2>/dev/null; wait $server $worker 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { echo "[demo] the service did not start"; exit 1; }
    sleep 0.2
done
user=$(head -n1 "$STEADYREC_SEED_LOG" | cut -f1)
cmd="curl -s -X POST http://127.0.0.1:$PORT/recommend -H 'Content-Type: application/json' -d '{\"user_id\": \"$user\", \"k\": 5}'"
echo
echo "[demo] steadyrec is serving on http://127.0.0.1:$PORT (API docs: http://127.0.0.1:$PORT/docs)"
echo "[demo] management token (events, jobs, aliases): in var/token; fine-tune worker log: var/worker.log"
echo "[demo] dashboard: http://127.0.0.1:$PORT/ui (sign in with the token in var/token)"
echo "[demo] try:"
echo "  $cmd"
eval "$cmd"
echo
echo "[demo] a FINEST fine-tune job of the live model (answers 202 with the job id; GET /jobs/ID to follow it):"
echo "  curl -s -X POST http://127.0.0.1:$PORT/jobs/finetune -H \"Authorization: Bearer \$(cat var/token)\" \\"
echo "       -H 'Content-Type: application/json' -d '{\"method\": \"finest\", \"run_canary\": true}'"
echo "[demo] Ctrl-C to stop."
wait $server
