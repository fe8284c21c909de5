"""Value types shared by the request models of several domains."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: Any) -> Any:
    """Only ``YYYY-MM-DD``: pydantic alone would also take ``0`` or a timestamp."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)")
    return value


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date_only),
    WithJsonSchema({"type": "string", "format": "date", "example": "2024-01-01"}),
]


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
