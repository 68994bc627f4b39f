# The HTTP service: FastAPI + ONNX Runtime (PyTorch is not installed in this image).
# Build from the repository root: docker build -f docker/api.Dockerfile -t steadyrec-api .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY training ./training
COPY service ./service
COPY worker ./worker
COPY steadyrec ./steadyrec
# Base dependencies only: the service imports the parts of `training` without PyTorch (manifest, registry,
# data formats, method configs) and never PyTorch.
RUN pip install . \
    && useradd --create-home --uid 10001 steadyrec \
    && mkdir -p /data/models /data/events /data/state /data/datasets \
    && chown -R steadyrec /data

USER steadyrec
ENV STEADYREC_MODELS_DIR=/data/models \
    STEADYREC_EVENTS_PATH=/data/events/events.jsonl \
    STEADYREC_STATE_DIR=/data/state \
    STEADYREC_DATA_DIR=/data/datasets
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["steadyrec", "serve", "--host", "0.0.0.0", "--port", "8000"]
