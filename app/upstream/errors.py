"""Upstream failures as our own problem types: callers never see an aiohttp exception.

Retryable (``retryable = True``): connection errors, timeouts, 429 and 5xx.
Permanent: other 4xx (their status is kept), payloads we cannot read and answers over
the size cap.
"""

from __future__ import annotations

from typing import Any

from app.kit.errors import ProblemError, StreamAborted


class UpstreamError(ProblemError):
    """Base of every failure of an upstream call."""

    status, type_slug, title = 502, "upstream-unavailable", "Bad Gateway"
    retryable = False


class UpstreamUnavailable(UpstreamError):
    """Connection refused/reset, or an upstream 5xx: answered as 502."""

    retryable = True


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time (a read timed out, or the call's deadline
    passed): answered as 504."""

    status, type_slug, title = 504, "upstream-timeout", "Gateway Timeout"
    retryable = True


class UpstreamBadResponse(UpstreamError):
    """The upstream answered 2xx with a payload we cannot read: 502."""

    type_slug = "upstream-bad-response"


class UpstreamAnswerTooLarge(UpstreamBadResponse):
    """The answer passed ``BFF_UPSTREAM_MAX_ANSWER_BYTES`` (counted after decompression):
    reading stopped there and its connection was closed. 502, and not retried."""

    type_slug = "upstream-answer-too-large"


class UpstreamRejected(UpstreamError):
    """The upstream refused the request with a 4xx; its status is kept (404 stays 404)."""

    type_slug, title = "upstream-rejected", "Upstream Rejected The Request"

    def __init__(
        self,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail, status=status, headers=headers, errors=errors)
        self.retryable = status == 429
        self.type_slug = {
            404: "not-found",
            409: "conflict",
            422: "validation",
            429: "rate-limited",
            401: "unauthorized",
            403: "forbidden",
        }.get(status, "upstream-rejected")
        self.title = {
            404: "Not Found",
            409: "Conflict",
            422: "Unprocessable Content",
            429: "Too Many Requests",
            401: "Unauthorized",
            403: "Forbidden",
        }.get(status, "Upstream Rejected The Request")


class StreamBrokenOff(StreamAborted):
    """The upstream stopped in the middle of a body the client is already receiving.

    The status line is gone, so no problem+json can follow: the only honest move left is
    to abort the client's transfer, so that a truncated CSV never looks complete. It is
    deliberately not a ProblemError (no handler can answer it); it is logged once, as a
    warning, where it happens.
    """
