"""What ``POST /v1/packages/{id}/watch`` answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.upstream.models import PackageStatus


class WatchView(BaseModel):
    """The package as just read upstream, and whether the worker now follows it."""

    id: str
    status: PackageStatus = Field(examples=["INPROGRESS"])
    progress: int | None = Field(default=None, ge=0, le=100)
    watching: bool = Field(
        description=(
            "true while the worker follows the build; false when this build's terminal event "
            "was already emitted (nothing left to announce)"
        )
    )
    events_url: str = Field(description="Server-Sent Events of its status")
    status_url: str
    results_url: str
