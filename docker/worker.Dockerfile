# The fine-tune worker: Celery + torch. Build from the repository root (the compose file does this):
#   docker build -f docker/worker.Dockerfile -t steadyrec-worker .
# CPU torch by default. For a GPU (docker/docker-compose.gpu.yml sets these):
#   --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130
# The index must carry torch==2.13.0 for Python 3.11 (the version pyproject pins); pip fails the build
# otherwise. PyTorch's CUDA wheels bring their own CUDA runtime libraries, so the base image stays
# python:3.11-slim; the NVIDIA container toolkit provides the driver. BASE_IMAGE must have Python 3.11
# and pip.
# ORT picks the ONNX Runtime package (default onnxruntime). The project depends on onnxruntime; another
# build (e.g. onnxruntime-gpu) replaces it, since both install the same `onnxruntime` module and must not
# be installed together (`pip check` then names steadyrec's onnxruntime requirement: expected). The
# worker needs no GPU ONNX Runtime: its ONNX work (the export parity check)
# runs on the CPU.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG ORT=onnxruntime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY training ./training
COPY service ./service
COPY worker ./worker
COPY steadyrec ./steadyrec
RUN python -m pip install --index-url "${TORCH_INDEX}" torch==2.13.0 \
    && python -m pip install ".[train]" \
    && if [ "${ORT}" != "onnxruntime" ]; then \
           python -m pip uninstall -y onnxruntime && python -m pip install "${ORT}"; \
       fi \
    && n_ort=$(python -m pip list --format=freeze | grep -ci '^onnxruntime' || true) \
    && if [ "${n_ort}" != 1 ]; then echo "expected one ONNX Runtime package, found ${n_ort}" >&2; exit 1; fi \
    && useradd --create-home --uid 10001 steadyrec \
    && mkdir -p /data/models /data/events /data/state /data/datasets \
    && chown -R steadyrec /data

USER steadyrec
ENV STEADYREC_MODELS_DIR=/data/models \
    STEADYREC_EVENTS_PATH=/data/events/events.jsonl \
    STEADYREC_STATE_DIR=/data/state \
    STEADYREC_DATA_DIR=/data/datasets
# Healthy while this container's Celery node answers a ping through the broker (Redis: REDIS_URL). The
# prefork pool's main process answers while a job runs in its child, so a long job does not make it
# unhealthy; a worker that lost the broker or hangs does.
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 CMD ["python", "-c", "import socket, sys; from worker.celery_app import app; replies = app.control.ping(timeout=5) or []; sys.exit(0 if any(n.endswith('@' + socket.gethostname()) for r in replies for n in r) else 1)"]
CMD ["steadyrec", "worker", "--concurrency", "1"]
