"""What an event stream carries: each ``status`` event's ``data`` (for the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.upstream.models import PackageStatus


class PackageStatusEvent(BaseModel):
    """``data:`` of a ``status`` event; ``id:`` of the event is ``seq`` (resume with Last-Event-ID)."""

    id: str
    status: PackageStatus
    progress: int | None = Field(ge=0, le=100)
    seq: int = Field(ge=1, description="increases with every change of this package's status")
