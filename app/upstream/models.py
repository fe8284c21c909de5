"""Upstream payloads, named as the Package Builder guide names them.

Lenient on purpose: unknown fields are ignored, numeric ids become strings,
and optional parts may be missing, so a richer upstream never breaks us.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.kit.types import DATE_TIME_PATTERN
from app.observability.metrics import count_unknown_upstream_value

logger = logging.getLogger("app.upstream")


class PackageStatus(StrEnum):
    """A package's status: the five values the guide names. INITIALIZING and INPROGRESS:
    building; DONE, FAILED, EXPIRED: ended (an EXPIRED package can be regenerated)."""

    INITIALIZING = "INITIALIZING"
    INPROGRESS = "INPROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


class AttributionModel(StrEnum):
    """How the evaluation attributes purchases: to the package's events only, or to all events."""

    EVENTS_FROM_PACKAGE = "EVENTS_FROM_PACKAGE"
    ALL_EVENTS = "ALL_EVENTS"


PACKAGE_STATUSES = tuple(PackageStatus)
TERMINAL_STATUSES = frozenset({PackageStatus.DONE, PackageStatus.FAILED, PackageStatus.EXPIRED})
BUILDING_STATUSES = frozenset({PackageStatus.INITIALIZING, PackageStatus.INPROGRESS})
UNKNOWN_STATUS_READS_AS = PackageStatus.INPROGRESS
_STATUS_VALUES = frozenset(PACKAGE_STATUSES)
_MODEL_VALUES = frozenset(AttributionModel)
_REPORTED_LIMIT = 100
_reported: set[tuple[str, str]] = set()


def report_unknown(field: str, value: object, replacement: str) -> None:
    """Counted every time; logged once per distinct value (at most 100 per process), so a
    list of 5,000 odd rows is one line, not 5,000. The value is shown cut short."""
    count_unknown_upstream_value(field)
    shown = repr(value)[:80]
    if (field, shown) in _reported or len(_reported) >= _REPORTED_LIMIT:
        return
    _reported.add((field, shown))
    logger.warning(
        "upstream sent %s %s, outside what the guide describes: read as %s", field, shown, replacement
    )


def _known_status(value: object) -> str:
    if isinstance(value, str) and value in _STATUS_VALUES:
        return value  # pydantic's own enum validation makes it a PackageStatus
    report_unknown("status", value, UNKNOWN_STATUS_READS_AS)
    return UNKNOWN_STATUS_READS_AS


def known_status(value: object) -> PackageStatus:
    """The guide names five statuses; anything else (a newer upstream's, or garbage) reads as
    INPROGRESS: not known to have ended, as the guide's own poll loop treats it. So the
    service keeps following the build, offers none of a finished one's actions, announces no
    end, and never sends a status outside the enum."""
    return PackageStatus(_known_status(value))


def _known_model(value: object) -> object:
    """An attribution model the guide does not name reads as null (no setting shown)."""
    if value is None or (isinstance(value, str) and value in _MODEL_VALUES):
        return value
    report_unknown("attribution_model", value, "null")
    return None


_RFC3339 = re.compile(DATE_TIME_PATTERN)
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _rfc3339(value: object) -> object:
    """``created_at`` as the guide writes it (``2026-05-15T10:30:00Z``) passes unchanged;
    another ISO 8601 spelling is rewritten as RFC 3339 (no offset: UTC); anything else reads
    as null. So the contract's ``format: date-time`` holds."""
    if value is None or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
            rewritten = parsed.isoformat().replace("+00:00", "Z")
            if _RFC3339.fullmatch(rewritten):  # not an offset in seconds, say
                return rewritten
    report_unknown("created_at", value, "null")
    return None


def _iso_date(value: object) -> object:
    """``email_sent_date`` as the guide writes it (``2026-06-01``); a date-time keeps its
    date; anything else reads as null (``format: date`` holds)."""
    if value is None:
        return None
    if isinstance(value, str):
        day = value[:10]
        if _ISO_DATE.fullmatch(day) and (len(value) == 10 or value[10] in "Tt "):
            try:
                return dt.date.fromisoformat(day).isoformat()
            except ValueError:
                pass
    report_unknown("email_sent_date", value, "null")
    return None


# The usual values are checked by pydantic alone; only an odd one reaches the fallback.
Status = Annotated[
    PackageStatus | Annotated[PackageStatus, BeforeValidator(_known_status)],
    Field(union_mode="left_to_right"),
]
CreatedAt = Annotated[
    Annotated[str, Field(pattern=DATE_TIME_PATTERN)]
    | Annotated[str | None, BeforeValidator(_rfc3339)]
    | None,
    Field(union_mode="left_to_right"),
]
SentDate = Annotated[str | None, BeforeValidator(_iso_date)]
KnownAttributionModel = Annotated[AttributionModel | None, BeforeValidator(_known_model)]


class UpstreamModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class UpstreamEvent(UpstreamModel):
    id: str
    title: str | None = None


class ClusterContent(UpstreamModel):
    customers: int = 0
    items: int = 0
    purchase: float = 0
    preview: list[dict[str, Any]] = Field(default_factory=list)


class ListedPackage(UpstreamModel):
    """What a list row shows of a package; its settings and content are skipped unparsed."""

    id: str
    title: str | None = None
    status: Status
    merge_id: str | None = None
    created_at: CreatedAt = None
    events: list[UpstreamEvent] = Field(default_factory=list)
    targeting_mode: str | None = None
    progress: float | None = None


class UpstreamPackage(ListedPackage):
    """A package as fetched (``content`` only on the single GET)."""

    filter_settings: dict[str, Any] | None = None
    content: dict[str, ClusterContent] | None = None


class PackageState(UpstreamModel):
    """The part of a package a status check needs; the rest of the payload is skipped."""

    id: str
    status: Status
    progress: float | None = None


class PackageHead(UpstreamModel):
    """What a status poll reads of each listed package: what an event about it carries but
    its content (only the single GET has that); events and settings are skipped unparsed."""

    id: str
    status: Status
    progress: float | None = None
    title: str | None = None
    merge_id: str | None = None


def merged_from(merge_id: str | None) -> list[str]:
    """``"123_456_789"`` → ``["123", "456", "789"]``, as the guide says; no API call.

    A purely alphabetic part is a prefix of the id after it, so ``"pkg_1_pkg_2"``
    gives ``["pkg_1", "pkg_2"]`` rather than four ids.
    """
    if not merge_id:
        return []
    ids: list[str] = []
    prefix = ""
    for part in merge_id.split("_"):
        if not part:
            continue
        if part.isalpha():
            prefix += part + "_"
            continue
        ids.append(prefix + part)
        prefix = ""
    if prefix:
        ids.append(prefix.rstrip("_"))
    return ids


class PackageRef(UpstreamModel):
    """What create, merge and regenerate answer: ``{"id": "pkg_555"}``."""

    id: str


class EvaluationDetails(BaseModel):
    """``backhaul_evaluation_details``: the attribution settings."""

    model_config = ConfigDict(extra="ignore")

    backhaul_evaluation_attribution_window: int | None = None
    backhaul_evaluation_model: KnownAttributionModel = None
    email_sent_date: SentDate = None


class ClusterEvaluation(UpstreamModel):
    customers: int = 0
    items: int = 0
    purchase: float = 0


class Evaluation(UpstreamModel):
    """``backhaul_evaluation``: ``{clusters: {<tc>: {customers, items, purchase}}}``."""

    clusters: dict[str, ClusterEvaluation] = Field(default_factory=dict)


class CreatePackagePayload(BaseModel):
    """The guide's create payload, as sent upstream."""

    num_packages: int
    n_top_events: int
    event_ids: list[int | str]
    package_title: str
    targeting_mode: str
    filters: dict[str, Any]


class ExportPayload(BaseModel):
    """What the data-integrations layer takes for a CRM export."""

    crm_name: str
    secret_id: str
    container_name: str
    packageId: str
    tc: str
