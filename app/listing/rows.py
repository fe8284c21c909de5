"""A list row: what the SPA reads of a package, serialised once, and where it sorts.

Rows sort newest first by (created time, id). A row's *position* is a string whose byte
order is that order: the created time in microseconds, offset and zero-padded to fixed
width, then the id. Redis keeps positions in sorted sets that order them by bytes
(``ZRANGE … BYLEX``), so a page after a cursor is a range read, whatever the history.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic_core import PydanticSerializationError, to_json
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from app.kit.cursors import encode_cursor
from app.kit.params import PACKAGE_ID_PATTERN
from app.upstream.models import ListedPackage, merged_from, report_unknown

UNKNOWN_CREATED_AT = -1.0e12  # sorts after every real date; finite, so a cursor can carry it
# Positions: microseconds + offset, 19 digits. Real dates (years 1-9999) and the unknown date
# fall well inside; a forged cursor's stamp is clamped to the ends, where it sorts the same.
STAMP_DIGITS = 19
STAMP_OFFSET_US = 2 * 10**18
STAMP_MAX_US = 10**STAMP_DIGITS - 1 - STAMP_OFFSET_US
# One character per indexed status, kept before a stored row (see ``KeptRow.value``).
STATUS_CODES = {"INITIALIZING": "0", "INPROGRESS": "1", "DONE": "2", "FAILED": "3", "EXPIRED": "4"}
UNINDEXED = "-"  # a status the guide does not name: listed, never matched by a status filter


class Listed(Protocol):
    """A package as a list names it: what watching its build needs."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...


class HasStatus(Protocol):
    """A package as listed, fetched, or read for its status only."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> float | None: ...


_IMPLIED_PROGRESS = {"INITIALIZING": 0, "DONE": 100, "EXPIRED": 100}


def progress_of(package: HasStatus) -> int | None:
    """0-100: the upstream's own progress when it gives one, else implied by the status."""
    if package.progress is not None:
        return max(0, min(100, round(package.progress)))
    return _IMPLIED_PROGRESS.get(package.status)


class SummaryRow(TypedDict):
    """``PackageSummary`` as the list builds it: a plain dict of already validated values,
    serialised once (building a model per row was most of a list page's cost)."""

    id: str
    title: str | None
    status: str
    progress: int | None
    merge_id: str | None
    merged_from: list[str]
    created_at: str | None
    targeting_mode: str | None
    events: list[dict[str, str | None]]


def created_sort_key(package: ListedPackage) -> tuple[float, str]:
    """Newest first sorts on this descending; unparseable dates sort last."""
    stamp = UNKNOWN_CREATED_AT
    if package.created_at:
        try:
            parsed = dt.datetime.fromisoformat(package.created_at.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            stamp = parsed.timestamp()
        except ValueError:
            pass
    return (stamp, package.id)


class PackageIndex:
    """The partner's package ids, to turn ``merge_id`` parts into ids the SPA can open: the
    guide writes merges as ``"123_456"`` while its ids look like ``"pkg_555"``."""

    def __init__(self, package_ids: Iterable[str]) -> None:
        self._ids = set(package_ids)
        self._by_number: dict[str, list[str]] = {}
        for package_id in self._ids:
            for separator in ("_", "-", ":", "."):
                head, found, tail = package_id.rpartition(separator)
                if found and head and tail:
                    self._by_number.setdefault(tail, []).append(package_id)
                    break

    def resolve(self, part: str) -> str:
        """The id itself when the list has it; else the one id that ends with ``_<part>``
        (``pkg_123`` for ``123``); else the part as the guide gave it."""
        if part in self._ids:
            return part
        candidates = self._by_number.get(part, [])
        return candidates[0] if len(candidates) == 1 else part

    def merged_from(self, merge_id: str | None) -> list[str]:
        if not merge_id:  # most packages: a list row skips the rest
            return []
        return [self.resolve(part) for part in merged_from(merge_id)]


def summary(package: ListedPackage, index: PackageIndex | None = None) -> SummaryRow:
    """One list row (``PackageSummary``'s fields, in its order) from an already validated
    upstream model: a plain dict, serialised once."""
    return {
        "id": package.id,
        "title": package.title,
        "status": package.status,
        "progress": progress_of(package),
        "merge_id": package.merge_id,
        "merged_from": index.merged_from(package.merge_id) if index else merged_from(package.merge_id),
        "created_at": package.created_at,
        "targeting_mode": package.targeting_mode,
        "events": [{"id": e.id, "title": e.title} for e in package.events],
    }


# -- positions and cursors ------------------------------------------------------------------


def stamp_digits(stamp: float) -> str:
    micros = max(-STAMP_OFFSET_US, min(STAMP_MAX_US, round(stamp * 1_000_000)))
    return f"{micros + STAMP_OFFSET_US:0{STAMP_DIGITS}d}"


def position(stamp: float, package_id: str) -> str:
    """Where a row sorts: byte order of positions is (created time, id) order."""
    return stamp_digits(stamp) + package_id


def cursor_after(position_: str) -> str:
    """The ``next_cursor`` of a page ending at this row: ``[seconds, id]`` as before."""
    micros = int(position_[:STAMP_DIGITS]) - STAMP_OFFSET_US
    return encode_cursor(micros / 1_000_000, position_[STAMP_DIGITS:])


def bound_after(after: tuple[float, str] | None) -> str:
    """The exclusive ``BYLEX`` bound of the rows after a decoded cursor (``+``: from the top)."""
    return "+" if after is None else "(" + position(*after)


# -- stored rows ------------------------------------------------------------------------------


def storable(text: str) -> str:
    """Text Redis can store as UTF-8: a lone surrogate (which the upstream's JSON or a query
    may carry) becomes ``?``; rows escape it (``_json``), search texts and needles use this."""
    return text.encode("utf-8", "replace").decode("utf-8")


def search_text(package_id: str, title: str | None) -> str:
    """What ``q`` is matched against: ``<bytes of the id>:<id><title>``, both casefolded; the
    length keeps a needle from matching across the two."""
    folded_id = storable(package_id.casefold())
    return f"{len(folded_id.encode())}:{folded_id}{storable((title or '').casefold())}"


def _json(row: SummaryRow) -> str:
    """Compact JSON, as pydantic writes it (a few times faster than ``json.dumps``); a row
    whose text has a lone surrogate (which UTF-8 cannot carry) is written ASCII-escaped."""
    try:
        return to_json(row).decode()
    except PydanticSerializationError:
        return json.dumps(row, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class KeptRow:
    """One package as stored: its position, its status code and its serialised row."""

    id: str
    position: str
    status_code: str
    json: str
    search: str

    @property
    def value(self) -> str:
        """``<19-digit stamp><status code><row JSON>``: scripts read the position and the
        status sets of a row from its first 20 characters, without parsing it."""
        return self.position[:STAMP_DIGITS] + self.status_code + self.json

    @classmethod
    def of(cls, row: SummaryRow, stamp: float) -> KeptRow:
        code = STATUS_CODES.get(row["status"], UNINDEXED)
        return cls(
            row["id"], position(stamp, row["id"]), code, _json(row), search_text(row["id"], row["title"])
        )

    @classmethod
    def parse(cls, package_id: str, value: str) -> KeptRow:
        """A stored value back (its search text rebuilt from the row)."""
        text = value[STAMP_DIGITS + 1 :]
        title = json.loads(text)["title"]
        position_ = value[:STAMP_DIGITS] + package_id
        return cls(package_id, position_, value[STAMP_DIGITS], text, search_text(package_id, title))

    def with_row(self, row: SummaryRow) -> KeptRow:
        """The same package, same position, with these contents (a new status, say)."""
        code = STATUS_CODES.get(row["status"], UNINDEXED)
        return KeptRow(self.id, self.position, code, _json(row), search_text(self.id, row["title"]))

    def summary(self) -> SummaryRow:
        row: SummaryRow = json.loads(self.json)
        return row


_ADDRESSABLE = re.compile(PACKAGE_ID_PATTERN)


def addressable(package: ListedPackage) -> bool:
    """Whether the API can be asked about this package (its path, a cursor past its row).
    Others are left out of lists, counted and logged: a row no request can name would end
    a page with a ``next_cursor`` the API refuses."""
    if _ADDRESSABLE.match(package.id):
        return True
    report_unknown("id", package.id, "a package left out of the list")
    return False


def kept_rows(packages: Sequence[ListedPackage]) -> list[KeptRow]:
    """Every addressable package of a list as a stored row; ``merged_from`` resolved
    against them all."""
    listed = [package for package in packages if addressable(package)]
    index = PackageIndex(package.id for package in listed)
    return [KeptRow.of(summary(package, index), created_sort_key(package)[0]) for package in listed]


def kept_row(package: ListedPackage, index: PackageIndex | None = None) -> KeptRow:
    return KeptRow.of(summary(package, index), created_sort_key(package)[0])


# -- a page without Redis -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What a page asks for: statuses (none: all), a casefolded needle, a size and a bound."""

    statuses: frozenset[str]
    needle: str
    limit: int
    after: tuple[float, str] | None

    def wants(self, row: KeptRow) -> bool:
        if self.statuses and (
            row.status_code == UNINDEXED or _STATUS_OF[row.status_code] not in self.statuses
        ):
            return False
        if not self.needle:
            return True
        length, _, rest = row.search.partition(":")
        folded = rest.encode()
        size = int(length)
        return self.needle.encode() in folded[:size] or self.needle.encode() in folded[size:]


_STATUS_OF = {code: status for status, code in STATUS_CODES.items()}


def page_in_memory(rows: Iterable[KeptRow], query: PageQuery) -> tuple[list[str], str | None]:
    """The same page as the kept list gives, from rows in memory (Redis unreachable): the
    rows' JSON and the position of the last one when more follow."""
    bound = position(*query.after) if query.after else None
    ordered = sorted(
        (row for row in rows if (bound is None or row.position < bound) and query.wants(row)),
        key=lambda row: row.position,
        reverse=True,
    )
    page = ordered[: query.limit]
    more = page[-1].position if len(ordered) > query.limit else None
    return [row.json for row in page], more
