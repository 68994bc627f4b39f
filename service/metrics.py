"""Prometheus metrics of one app instance (own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_FAST = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.batch_size = Histogram(
            "steadyrec_batch_size",
            "Requests per ONNX Runtime call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "steadyrec_queue_wait_seconds", "Time a request waited for its batch", buckets=_FAST, registry=self.registry
        )
        self.inference = Histogram(
            "steadyrec_inference_seconds", "Duration of one ONNX Runtime call", buckets=_FAST, registry=self.registry
        )
        self.latency = Histogram(
            "steadyrec_request_latency_seconds",
            "Request latency by route",
            ["route"],
            buckets=_FAST,
            registry=self.registry,
        )
        self.responses = Counter(
            "steadyrec_responses_total", "Responses by route and status", ["route", "status"], registry=self.registry
        )
        self.shadow_mirrored = Counter(
            "steadyrec_shadow_mirrored_total", "Live requests also scored by the candidate", registry=self.registry
        )
        self.shadow_dropped = Counter(
            "steadyrec_shadow_dropped_total",
            "Sampled requests dropped because the mirror queue was full",
            registry=self.registry,
        )
        self.shadow_rbo = Gauge(
            "steadyrec_shadow_rbo", "Running mean RBO_ext (p = 0.9) of candidate vs live", registry=self.registry
        )
        self.shadow_jaccard = Gauge(
            "steadyrec_shadow_jaccard", "Running mean Jaccard@K of candidate vs live", registry=self.registry
        )
        self.fallbacks = Counter(
            "steadyrec_fallback_total", "Recommendations answered by the popularity fallback", registry=self.registry
        )
