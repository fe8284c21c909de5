"""Shapes of CRM exports."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.webhooks.events import ExportStatus


class ExportRequest(BaseModel):
    """Body of ``POST /v1/packages/{id}/clusters/{tc}/exports``."""

    model_config = ConfigDict(extra="forbid")

    crm_name: str = Field(min_length=1, max_length=100, examples=["salesforce"])
    secret_id: str = Field(min_length=1, max_length=200, description="id of the stored CRM credentials")
    container_name: str = Field(min_length=1, max_length=200, examples=["Munich Q3 lookalikes"])


class ExportAttempt(BaseModel):
    at: dt.datetime
    outcome: Literal["accepted", "error"]
    detail: str | None = None


class Export(BaseModel):
    """An export as stored and as shown; ``reason`` says why it FAILED."""

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
    items: list[Export]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class ExportAccepted(BaseModel):
    id: str
    status: ExportStatus
    status_url: str
