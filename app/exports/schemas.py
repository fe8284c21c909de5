"""Shapes of CRM exports."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.kit.types import examples
from app.webhooks.events import ExportStatus

ATTEMPT_EXAMPLE: dict[str, Any] = {"at": "2026-11-28T10:05:01Z", "outcome": "accepted", "detail": None}
EXPORT_EXAMPLE: dict[str, Any] = {
    "id": "96b379df724444a8ae8c8f2e91ef913f",
    "status": "DONE",
    "package_id": "pkg_555",
    "tc": "family_outings_munich",
    "crm_name": "hubspot",
    "secret_id": "sec_1",
    "container_name": "Munich Q3",
    "created_at": "2026-11-28T10:05:00Z",
    "updated_at": "2026-11-28T10:05:01Z",
    "reason": None,
    "upstream_reference": "exp_8812",
    "attempts": [ATTEMPT_EXAMPLE],
}


class ExportRequest(BaseModel):
    """Body of ``POST /v1/packages/{id}/clusters/{tc}/exports``."""

    model_config = ConfigDict(extra="forbid")

    crm_name: str = Field(min_length=1, max_length=100, examples=["salesforce"])
    secret_id: str = Field(min_length=1, max_length=200, description="id of the stored CRM credentials")
    container_name: str = Field(min_length=1, max_length=200, examples=["Munich Q3 lookalikes"])


class ExportAttempt(BaseModel):
    model_config = examples(ATTEMPT_EXAMPLE)

    at: dt.datetime
    outcome: Literal["accepted", "error"]
    detail: str | None = None


class Export(BaseModel):
    """An export as stored and as shown; ``reason`` says why it FAILED."""

    model_config = examples(EXPORT_EXAMPLE)

    id: str
    status: ExportStatus
    package_id: str
    tc: str
    crm_name: str
    secret_id: str
    container_name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    reason: str | None = None
    upstream_reference: str | None = None
    attempts: list[ExportAttempt] = Field(default_factory=list)


class ExportPage(BaseModel):
    model_config = examples({"items": [EXPORT_EXAMPLE], "next_cursor": None})

    items: list[Export]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class ExportAccepted(BaseModel):
    model_config = examples(
        {
            "id": "96b379df724444a8ae8c8f2e91ef913f",
            "status": "PENDING",
            "status_url": "https://bff.example/v1/exports/96b379df724444a8ae8c8f2e91ef913f",
        }
    )

    id: str
    status: ExportStatus
    status_url: str
