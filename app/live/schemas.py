"""What an event stream carries: each ``status`` event's ``data`` (for the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.kit.types import examples
from app.upstream.models import PackageStatus

STATUS_EVENT_EXAMPLE = {"id": "pkg_555", "status": "INPROGRESS", "progress": 40, "seq": 3}


class PackageStatusEvent(BaseModel):
    """``data:`` of a ``status`` event; ``id:`` of the event is ``seq`` (resume with Last-Event-ID)."""

    model_config = examples(STATUS_EVENT_EXAMPLE)

    id: str
    status: PackageStatus
    progress: int | None = Field(ge=0, le=100)
    seq: int = Field(ge=1, description="increases with every change of this package's status")
