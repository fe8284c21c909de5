"""Prometheus metrics of the API and the worker. Every label has a bounded set of values:
route templates (never raw paths), methods, status classes, outcomes; never a partner,
package or delivery id. Other modules call the small functions below, one line each.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# -- API: requests ----------------------------------------------------------------------------
REQUESTS = Counter("bff_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "bff_http_request_duration_seconds",
    "Time to answer (streams: until the last byte)",
    ["method", "route"],
)
SSE_STREAMS = Gauge("bff_sse_streams_open", "Server-Sent Event streams open in this process")
IDEMPOTENCY_REPLAYS = Counter(
    "bff_idempotency_replays_total", "Answers replayed for a repeated Idempotency-Key", ["scope"]
)
RATE_LIMITED = Counter("bff_rate_limited_total", "Requests refused with 429 by the per-partner rate limit")

# -- API and worker: the upstream and the cache -----------------------------------------------
UPSTREAM_CALLS = Counter(
    "bff_upstream_requests_total",
    "Calls to the Package Builder API (a call's retries included) by outcome",
    ["route", "method", "status_class"],
)
UPSTREAM_LATENCY = Histogram(
    "bff_upstream_request_duration_seconds",
    "Duration of upstream calls, retries included",
    ["route", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UNKNOWN_UPSTREAM_VALUES = Counter(
    "bff_upstream_unknown_values_total",
    "Values the upstream sent outside the guide's vocabulary or formats, by field; each was "
    "replaced by the documented fallback (a status reads as INPROGRESS, the others as null)",
    ["field"],
)
CACHE = Counter("bff_cache_total", "Cache reads (hit, miss) and fills stored", ["cache", "outcome"])
LIST_REFRESHES = Counter(
    "bff_list_refreshes_total",
    "Refreshes of a partner's kept package list (one upstream list call each) by outcome",
    ["outcome"],
)

# -- worker ------------------------------------------------------------------------------------
WATCH_POLLS = Counter("bff_watch_polls_total", "Partner status polls: one upstream list call each")
DETECTION_LAG = Histogram(
    "bff_watch_detection_lag_seconds",
    "Upper bound of how late a finished build was seen: time between the last poll that saw it "
    "building and the first poll that saw it DONE/FAILED/EXPIRED",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900),
)
WEBHOOK_ATTEMPTS = Counter("bff_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
WEBHOOK_LATENCY = Histogram(
    "bff_webhook_attempt_duration_seconds",
    "Time until the partner's endpoint answered (attempts that got an answer)",
    ["outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25),
)
# Sampled from Redis by the worker every few seconds: the same figure on every worker, so
# aggregate with max(), not sum().
OPEN_WATCHES = Gauge("bff_watches_open", "Open watches (builds followed), sampled from Redis")
WATCHED_PARTNERS = Gauge("bff_watch_partners", "Partners with open watches, sampled from Redis")
QUEUE_JOBS = Gauge("bff_queue_jobs", "Jobs in the arq queue, sampled", ["state"])
PENDING_DELIVERIES = Gauge("bff_webhook_deliveries_pending", "Webhook deliveries not yet settled, sampled")
WORKER_REDIS_UP = Gauge("bff_worker_redis_up", "1 when the worker's last Redis sample succeeded")

_UPSTREAM_ROUTES = frozenset(
    {
        "/package_builder/packages",
        "/package_builder/packages/",
        "/package_builder/packages/merge",
        "/package_builder/packages/{package_id}",
        "/package_builder/packages/{package_id}/backhaul_evaluation_details",
        "/package_builder/packages/{package_id}/backhaul_evaluation",
        "/package_builder/packages/{package_id}/regenerate",
        "/package_builder/packages/{package_id}/{tc}/customer_list",
        "/events",
        "/nlq/ids_from_nl_description",
        "/exports",
    }
)
_CACHES = frozenset({"evaluation", "view", "events"})
_WEBHOOK_OUTCOMES = frozenset({"succeeded", "failed", "refused"})


# A metric's ``labels()`` validates the values and takes a lock on every call, so its
# children are remembered per label values. Safe: the values are bounded sets (see the module
# docstring), and nothing here removes or clears a metric's children, so a remembered child
# is always the one the metric exports.
@functools.lru_cache(maxsize=4096)
def _request_metrics(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


@functools.lru_cache(maxsize=1024)
def _upstream_metrics(route: str, method: str, outcome: str) -> tuple[Counter, Histogram]:
    return UPSTREAM_CALLS.labels(route, method, outcome), UPSTREAM_LATENCY.labels(route, method)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered request. A method outside HTTP's usual set is ``other``: any caller can
    send any token as a method, and each must not become a series of its own."""
    method = method if method in _METHODS else "other"
    count, latency = _request_metrics(method, route, status)
    count.inc()
    latency.observe(seconds)


def upstream_route(path: str) -> str:
    """``/package_builder/packages/123/backhaul_evaluation`` → its template; unknown shapes
    are ``other``, so the label set stays bounded whatever the path."""
    parts = path.split("/")
    if path.startswith("/package_builder/packages/") and len(parts) > 3 and parts[3] not in ("", "merge"):
        parts[3] = "{package_id}"
        if len(parts) == 6 and parts[5] == "customer_list":
            parts[4] = "{tc}"
    template = "/".join(parts)
    return template if template in _UPSTREAM_ROUTES else "other"


@dataclass
class UpstreamCall:
    """Filled in by the caller: the status the upstream answered."""

    status: int | None = None


@contextmanager
def upstream_call(method: str, path: str) -> Iterator[UpstreamCall]:
    """Counts and times one upstream call: ``2xx``…``5xx`` from ``call.status``, else
    ``timeout``, ``error`` (no answer) or ``cancelled`` (our caller went away)."""
    call = UpstreamCall()
    started = time.perf_counter()
    outcome = "error"
    try:
        yield call
    except BaseException as exc:
        name = type(exc).__name__
        outcome = "cancelled" if name == "CancelledError" else "timeout" if "Timeout" in name else "error"
        raise
    finally:
        if call.status is not None:
            outcome = f"{call.status // 100}xx"
        count, latency = _upstream_metrics(upstream_route(path), method, outcome)
        count.inc()
        latency.observe(time.perf_counter() - started)


def count_cache(key: str, outcome: str) -> None:
    """``outcome``: ``hit``, ``miss`` or ``fill``; the cache is named by its key's prefix."""
    parts = key.split(":")
    cache = parts[2] if len(parts) > 2 and parts[2] in _CACHES else "other"
    CACHE.labels(cache, outcome).inc()


@contextmanager
def open_stream() -> Iterator[None]:
    """Around the life of one Server-Sent Events stream."""
    SSE_STREAMS.inc()
    try:
        yield
    finally:
        SSE_STREAMS.dec()


def count_idempotency_replay(scope: str) -> None:
    IDEMPOTENCY_REPLAYS.labels(scope).inc()


def count_rate_limited() -> None:
    """One request refused by the rate limit (no partner label: ids are unbounded)."""
    RATE_LIMITED.inc()


_LIST_REFRESH_OUTCOMES = frozenset({"changed", "unchanged", "superseded", "failed"})


def count_list_refresh(outcome: str) -> None:
    """``changed`` (rows written), ``unchanged``, ``superseded`` (a newer read was kept
    meanwhile) or ``failed`` (the upstream call failed)."""
    LIST_REFRESHES.labels(outcome if outcome in _LIST_REFRESH_OUTCOMES else "changed").inc()


_UNKNOWN_VALUE_FIELDS = frozenset(
    {"status", "attribution_model", "created_at", "email_sent_date", "event_search_member", "id"}
)


def count_unknown_upstream_value(field: str) -> None:
    UNKNOWN_UPSTREAM_VALUES.labels(field if field in _UNKNOWN_VALUE_FIELDS else "other").inc()


def count_poll() -> None:
    WATCH_POLLS.inc()


def observe_detection_lag(seconds: float) -> None:
    DETECTION_LAG.observe(max(0.0, seconds))


def observe_webhook_attempt(outcome: str, latency_ms: int | None) -> None:
    outcome = outcome if outcome in _WEBHOOK_OUTCOMES else "other"
    WEBHOOK_ATTEMPTS.labels(outcome).inc()
    if latency_ms is not None:
        WEBHOOK_LATENCY.labels(outcome).observe(latency_ms / 1000)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
