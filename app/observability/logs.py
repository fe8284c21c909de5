"""Logging of the API and the worker: one JSON object per line (or text for humans), the
request's id on every line written while serving it, and no secret in any line.

Stdlib only. ``configure_logging`` puts one handler on the root logger and routes
uvicorn's and arq's loggers through it; the access line is ours (``app.access``, logged by
the request-id middleware like any other record), so uvicorn's own access log is switched
off. One formatter per format writes every line, the access line included.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["json", "text"]

# Fields of the request being served, added to every record written meanwhile.
_request_fields: ContextVar[dict[str, Any] | None] = ContextVar("request_fields", default=None)

# Known fields first, in this order; anything else passed as ``extra`` follows.
_FIELDS = ("request_id", "partner", "method", "route", "status", "duration_ms")
_FIELD_SET = frozenset(_FIELDS)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}

# Loggers of libraries that configure themselves: cleared and sent through the root handler.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi", "arq")
_QUIET = ("httpx", "httpcore", "aiohttp.access")  # one line per request otherwise
_ARQ_LOGGERS = ("arq.worker", "arq.connections", "arq.jobs", "arq.cron")

_SECRETS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}"), "[redacted-jwt]"),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|token|sig|signature|secret|password|api_key)"
            r"=([^&\s\"'<>]+)"
        ),
        r"\1=[redacted]",
    ),
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_[redacted]"),
]


# Every pattern above needs one of these; most text (an access line, a route template, a
# hex id) holds none, and looking for them is far cheaper than the four substitutions.
_MAY_HOLD_SECRET = re.compile(r"(?i)bearer|basic|eyJ|=|whsec_")


def _may_hold_secret(text: str) -> bool:
    """``_MAY_HOLD_SECRET.search``, by substring tests for ASCII text, where ``lower()``
    folds case exactly as ``(?i)`` does. Other text keeps the search: Unicode case rules
    match more than ``lower()`` (``(?i)basic`` matches ``baſic``)."""
    if not text.isascii():
        return _MAY_HOLD_SECRET.search(text) is not None
    if "=" in text or "eyJ" in text or "whsec_" in text:
        return True
    lowered = text.lower()
    return "bearer" in lowered or "basic" in lowered


def redact(text: str) -> str:
    """Masks everything token-like: bearer values, JWTs, secret query values, whsec_ secrets."""
    if not _may_hold_secret(text):
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def request_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Fields (``request_id``, ``partner`` …) added to every record inside the block; None
    values are left out, and a zero-argument function is called when a record is written."""
    current = {key: value for key, value in fields.items() if value is not None}
    token = _request_fields.set(current)
    try:
        yield current
    finally:
        _request_fields.reset(token)


class RequestContextFilter(logging.Filter):
    """Copies the current request's fields onto the record (an explicit ``extra`` wins); a
    field given as a function is asked now (``route`` is known only after routing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_request_fields.get() or {}).items():
            if hasattr(record, key):  # an explicit extra, or one of the record's own attributes
                continue
            if callable(value):
                value = value()
            if value is not None:
                setattr(record, key, value)
        return True


def _ordered_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields (not the standard attributes): the known ones in ``_FIELDS``
    order, then the others in the order they were set. Set operations on the keys, so a
    line with only known fields (an access line) never walks the record's thirty standard
    attributes."""
    fields = record.__dict__
    keys = fields.keys() - _STANDARD
    ordered = {key: fields[key] for key in _FIELDS if key in keys}
    others = keys - _FIELD_SET
    if others:
        ordered.update((key, value) for key, value in fields.items() if key in others)
    return ordered


_last_second: tuple[int, str] = (-1, "")  # one tuple, replaced whole: safe across threads


def _utc_time(created: float) -> str:
    """``2026-11-28T21:54:47.123Z``; the part up to the second is formatted once a second."""
    global _last_second
    fraction, whole = math.modf(created)  # rounded as datetime.fromtimestamp rounds it
    second, micros = divmod(int(whole) * 1_000_000 + round(fraction * 1_000_000), 1_000_000)
    cached = _last_second
    if cached[0] != second:
        cached = _last_second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{micros // 1000:03d}Z"


# One encoder for every line (``json.dumps`` with options builds a new one per call).
_encode_json = json.JSONEncoder(default=repr, ensure_ascii=False).encode


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", …fields, "exc"}`` on one line; every string
    redacted on its own, before encoding, so a mask never spans JSON's quotes or escapes."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in _ordered_extras(record).items():
            line[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        return _encode_json(line)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value …`` for people reading a terminal, redacted
    whole: the text is never parsed, so a mask may cross a field's edge and harm nothing."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{key}={value}" for key, value in _ordered_extras(record).items())
        if fields:
            head, newline, rest = text.partition("\n")  # fields go on the message line
            text = f"{head} {fields}{newline}{rest}"
        return redact(text)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring twice replaces it."""


def make_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with our format (which redacts) and the request's
    fields."""
    handler = _OurHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestContextFilter())
    return handler


def configure_logging(log_format: LogFormat = "json", level: int | str = logging.INFO) -> None:
    """One handler on the root logger for the whole process (idempotent); Python warnings
    become log records too."""
    handler = make_handler(log_format)
    _skip_unused_record_fields()
    logging.captureWarnings(True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    _route_libraries_through_root()


def _skip_unused_record_fields() -> None:
    """Neither format writes the thread or the process: the logging module's public
    switches (the HOWTO's "Optimization") stop every record from collecting them. A
    handler someone adds still gets every other attribute, the caller's file and line
    included."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def ensure_logging(log_format: LogFormat) -> None:
    """Configure unless this module already did (``python -m app api`` does it first)."""
    if not configured():
        configure_logging(log_format)


def configured() -> bool:
    return any(isinstance(h, _OurHandler) for h in logging.getLogger().handlers)


def _route_libraries_through_root() -> None:
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    access = logging.getLogger("uvicorn.access")  # replaced by our own access line
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


class _KeepArqOnOurHandler(logging.Filter):
    """``arq app.worker.WorkerSettings`` runs arq's CLI, which installs its own text handler
    on the ``arq`` logger after importing our settings. Sitting on arq's loggers, this
    configures ours on the first arq record and drops arq's handler, so that every line,
    the first one included, is ours."""

    def __init__(self, log_format: LogFormat) -> None:
        super().__init__()
        self._format = log_format

    def filter(self, record: logging.LogRecord) -> bool:
        ensure_logging(self._format)
        library = logging.getLogger("arq")
        if library.handlers:
            _route_libraries_through_root()
        return True


def keep_arq_on_our_handler(log_format: LogFormat) -> None:
    """Install the takeover filter on arq's loggers (once)."""
    for name in _ARQ_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _KeepArqOnOurHandler) for f in logger.filters):
            logger.addFilter(_KeepArqOnOurHandler(log_format))
