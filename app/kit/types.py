"""Value types shared by the request models of several domains."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator, ConfigDict, WithJsonSchema

ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ISO_DATE = re.compile(ISO_DATE_PATTERN)
# The longest RFC 3339 date-time taken (nanoseconds and an offset fit in 35; the rest is room).
DATE_TIME_MAX_LENGTH = 64
# RFC 3339 with its offset (no leap second: Python has none): pydantic alone would also take a
# number, a bare date or no offset.
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)


def _iso_date_only(value: Any) -> Any:
    """Only ``YYYY-MM-DD``: pydantic alone would also take ``0`` or a timestamp."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)")
    return value


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date_only),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": ISO_DATE_PATTERN,
            "maxLength": 10,
            "examples": ["2024-01-01"],
        }
    ),
]


def _date_time_only(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or len(value) > DATE_TIME_MAX_LENGTH or not _DATE_TIME.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with its offset (e.g. 2026-11-28T10:00:00Z)")
    return value


IsoDateTime = Annotated[
    dt.datetime,
    BeforeValidator(_date_time_only),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": DATE_TIME_PATTERN,
            "maxLength": DATE_TIME_MAX_LENGTH,
        }
    ),
]

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
Cursor = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        max_length=512,
        description="the `next_cursor` of the previous page (base64url, opaque: one this API did not "
        "return is 422)",
    ),
]
"""A page cursor query parameter: the shape is checked here, the content by ``app.kit.cursors``."""


def _json_integer(value: Any) -> Any:
    """A JSON integer (``3`` or ``3.0``), never a boolean or a numeric string as pydantic takes."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


def absent_not_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of an optional field that may be left out but never be null: the
    document says what the validator enforces (no null branch, no null default)."""
    variants = schema.pop("anyOf", None)
    if variants is not None:
        kept = [v for v in variants if v.get("type") != "null"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    if schema.get("default", ...) is None:
        del schema["default"]


EXAMPLES_AS_TEXT = "x-examples-json"


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's ``model_config`` carrying examples of it for the OpenAPI document (each
    checked against the model's schema by tests/test_examples.py). FastAPI builds the
    document without any null (``exclude_none``), which would strip an example's ``null``
    members and make it invalid; so they travel as JSON text, which ``app/api/docs.py``
    turns back into ``examples`` once the document is built."""
    return ConfigDict(json_schema_extra={EXAMPLES_AS_TEXT: json.dumps(list(values))})
