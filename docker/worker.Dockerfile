# The fine-tune worker: Celery + torch. CPU by default; for a GPU build:
#   docker build -f docker/worker.Dockerfile --build-arg BASE_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04 \
#                --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 --build-arg ORT=onnxruntime-gpu .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG ORT=onnxruntime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# CUDA base images have no Python 3.11 of their own.
RUN if ! command -v python3.11 >/dev/null 2>&1 && ! python3 --version 2>/dev/null | grep -q "3.11"; then \
        apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip \
        && rm -rf /var/lib/apt/lists/* && ln -sf /usr/bin/python3.11 /usr/local/bin/python; fi
WORKDIR /app
COPY pyproject.toml README.md ./
COPY training ./training
COPY service ./service
COPY worker ./worker
COPY steadyrec ./steadyrec
RUN python -m pip install --index-url ${TORCH_INDEX} torch==2.13.0 \
    && python -m pip install ".[train]" ${ORT} \
    && useradd --create-home --uid 10001 steadyrec \
    && mkdir -p /data/models /data/events /data/state /data/datasets \
    && chown -R steadyrec /data

USER steadyrec
ENV STEADYREC_MODELS_DIR=/data/models \
    STEADYREC_EVENTS_PATH=/data/events/events.jsonl \
    STEADYREC_STATE_DIR=/data/state \
    STEADYREC_DATA_DIR=/data/datasets
CMD ["steadyrec", "worker", "--concurrency", "1"]
