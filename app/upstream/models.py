"""Upstream payloads, named as the Package Builder guide names them.

Lenient on purpose: unknown fields are ignored, numeric ids become strings,
and optional parts may be missing, so a richer upstream never breaks us.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PACKAGE_STATUSES = ("INITIALIZING", "INPROGRESS", "DONE", "FAILED", "EXPIRED")
TERMINAL_STATUSES = frozenset({"DONE", "FAILED", "EXPIRED"})
BUILDING_STATUSES = frozenset({"INITIALIZING", "INPROGRESS"})


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
    status: str
    merge_id: str | None = None
    created_at: str | None = None
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
    status: str
    progress: float | None = None


class PackageHead(UpstreamModel):
    """What a status poll reads of each listed package: what an event about it carries but
    its content (only the single GET has that); events and settings are skipped unparsed."""

    id: str
    status: str
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
    backhaul_evaluation_model: str | None = None
    email_sent_date: str | None = None


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
