"""What an event stream carries: each ``status`` event's ``data`` (for the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PackageStatusEvent(BaseModel):
    """``data:`` of a ``status`` event; ``id:`` of the event is ``seq`` (resume with Last-Event-ID)."""

    id: str
    status: Literal["INITIALIZING", "INPROGRESS", "DONE", "FAILED", "EXPIRED"]
    progress: int | None = Field(ge=0, le=100)
    seq: int = Field(ge=1, description="increases with every change of this package's status")
