"""W3C Trace Context: a request's ``traceparent`` is continued on every upstream call it makes
(and in the jobs it enqueues); a request without one (or with a malformed one) starts a
trace. No OpenTelemetry SDK: continuing the header is all the upstream needs from us."""

from __future__ import annotations

import re
import secrets

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def continue_trace(incoming: str | None) -> str:
    """The ``traceparent`` our own span sends on: the caller's trace id and flags with a new
    span id, or a new sampled trace when the caller sent none we can use."""
    match = TRACEPARENT.match((incoming or "").strip().lower())
    if match is None or match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_SPAN:
        return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"


def trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1] if TRACEPARENT.match(traceparent) else ""
