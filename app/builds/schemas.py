"""What ``POST /v1/packages/{id}/watch`` answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.kit.types import examples
from app.upstream.models import PackageStatus

BASE = "https://bff.example/v1/packages/pkg_555"


class WatchView(BaseModel):
    """The package as just read upstream, and whether the worker now follows it."""

    model_config = examples(
        {
            "id": "pkg_555",
            "status": "INPROGRESS",
            "progress": 40,
            "watching": True,
            "events_url": f"{BASE}/events?partner_id=partner-1&exp=1767225600&sig=Zx3kq0T9b1n8Qm4VwYp2sA",
            "status_url": f"{BASE}/status",
            "results_url": BASE,
        }
    )

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
