"""Positions in a partner's activity log, and their two client-facing spellings.

A position is a Redis stream entry id (``ms-seq``, the Redis clock): ids only grow, so
"after X" never skips or repeats an entry, whatever is appended meanwhile. The feed hands
it out as an opaque ``iterator`` bound to the partner (another partner's is a 422); the
live stream as the SSE ``id:``, which is just a position in the caller's own log. Both come
back from clients, so both are hostile until parsed: anything else is the same 422.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from app.kit.errors import ValidationProblem, field_error

MAX_SEQ = 2**64 - 1
MAX_MS = 10**15  # year 33658: anything later is not a Redis clock of ours
_ENTRY_ID = re.compile(r"([0-9]{1,16})-([0-9]{1,20})")
_ITERATOR = re.compile(r"([0-9]{1,16})-([0-9]{1,20})\.([0-9a-f]{12})")
MAX_ITERATOR_CHARS = 80


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """The position after entry ``ms-seq`` (exclusive): reading resumes with the next one."""

    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def parse(cls, entry_id: str) -> Position:
        """An entry id from Redis (trusted)."""
        ms, seq = entry_id.split("-")
        return cls(int(ms), int(seq))

    @classmethod
    def before_time(cls, moment: dt.datetime) -> Position:
        """Just before the first entry at or after ``moment``."""
        ms = int(moment.timestamp() * 1000)
        return START if ms <= 0 else cls(min(ms, MAX_MS) - 1, MAX_SEQ)


START = Position(0, 0)  # before the oldest entry kept


def _tag(partner_id: str) -> str:
    return hashlib.sha256(b"activity-iterator\x00" + partner_id.encode("utf-8", "surrogatepass")).hexdigest()[
        :12
    ]


def encode_iterator(position: Position, partner_id: str) -> str:
    raw = f"{position}.{_tag(partner_id)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_iterator(iterator: str, partner_id: str, *, where: str = "query") -> Position:
    """The position of an iterator this API gave this partner; 422 for anything else."""
    field = "iterator"
    match = None
    if len(iterator) <= MAX_ITERATOR_CHARS and iterator.isascii():
        try:
            raw = base64.urlsafe_b64decode(iterator + "=" * (-len(iterator) % 4)).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raw = ""
        match = _ITERATOR.fullmatch(raw)
    if match is None or match.group(3) != _tag(partner_id):
        raise _invalid(field, f"{field} is not one this API returned to this partner", where=where)
    return _bounded(int(match.group(1)), int(match.group(2)), field, where=where)


def parse_last_event_id(value: str | None) -> Position | None:
    """``Last-Event-ID`` of the activity stream: an ``id:`` it sent (``ms-seq``), else 422.
    Absent or empty: None (start from now)."""
    if value is None or not value.strip():
        return None
    match = _ENTRY_ID.fullmatch(value.strip())
    if match is None:
        raise _invalid("Last-Event-ID", "Last-Event-ID is not an id this stream sent", where="header")
    return _bounded(int(match.group(1)), int(match.group(2)), "Last-Event-ID", where="header")


def _bounded(ms: int, seq: int, field: str, *, where: str = "query") -> Position:
    if ms > MAX_MS or seq > MAX_SEQ:
        raise _invalid(field, f"{field} is out of range", where=where)
    return Position(ms, seq)


def _invalid(field: str, detail: str, *, where: str = "query") -> ValidationProblem:
    return ValidationProblem(detail, errors=[field_error([where, field], "invalid position")])
