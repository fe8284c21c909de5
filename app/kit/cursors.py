"""Opaque page cursors: a position in a list, as base64url JSON ``[stamp, key]``.

A cursor comes back from the client, so it is hostile until parsed: anything this
API did not hand out (bad base64, other JSON, non-finite or huge numbers, long keys)
is the same 422 everywhere.
"""

from __future__ import annotations

import base64
import json
import math

from app.kit.errors import ValidationProblem, field_error

MAX_KEY_LENGTH = 256
MAX_STAMP = 1e15  # seconds or ms: far past any date, far from a float's overflow


def encode_cursor(stamp: float, key: str) -> str:
    """The position after which the next page starts."""
    raw = json.dumps([stamp, key], separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """``(stamp, key)`` of a cursor this API made; 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, key = json.loads(raw)
        if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not isinstance(key, str):
            raise ValueError("not a cursor")
        position = float(stamp)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise _invalid() from None
    if (
        not math.isfinite(position)
        or abs(position) > MAX_STAMP
        or len(key) > MAX_KEY_LENGTH
        or not _encodable(key)
    ):
        raise _invalid()
    return position, key


def _encodable(key: str) -> bool:
    """No lone surrogate (JSON's ``"\\ud800"``): a key goes to Redis as UTF-8."""
    try:
        key.encode()
    except UnicodeEncodeError:
        return False
    return True


def _invalid() -> ValidationProblem:
    return ValidationProblem(
        "cursor is not one this API returned; pass the next_cursor of a previous page",
        errors=[field_error(["query", "cursor"], "invalid cursor")],
    )
