"""Prometheus metrics of the API process, labelled by route template (never raw paths)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("bff_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "bff_http_request_duration_seconds",
    "Time to answer (streams: until the last byte)",
    ["method", "route"],
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
