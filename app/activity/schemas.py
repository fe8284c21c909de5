"""What the activity endpoints answer; the events are the webhook models themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.kit.types import DATE_TIME_PATTERN
from app.webhooks.events import (
    ExportDone,
    ExportFailed,
    PackageDone,
    PackageExpired,
    PackageFailed,
    PackageStatusChanged,
)

ActivityEventType = Literal[
    "package.done", "package.failed", "package.expired", "package.status", "export.done", "export.failed"
]
LoggedEvent = Annotated[
    PackageDone | PackageFailed | PackageExpired | PackageStatusChanged | ExportDone | ExportFailed,
    Field(discriminator="type"),
]
AFTER_PATTERN = "^now$|" + DATE_TIME_PATTERN
CONSUMER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ITERATOR_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"


class ActivityItem(BaseModel):
    """One event as it was emitted: ``id`` is its ``webhook-id``, ``event`` its webhook body
    (the same bytes every endpoint received)."""

    id: str = Field(description="the event's id: the `webhook-id` of its deliveries")
    event: LoggedEvent


class ActivityPage(BaseModel):
    """Events oldest first. Pass ``iterator`` back for the next page; ``done`` says the
    end of the log was reached (poll again later with the same iterator). A filtered page
    may be short or empty and not ``done``: keep following the iterator."""

    data: list[ActivityItem]
    iterator: str = Field(description="where the next page starts (opaque)")
    done: bool


class ActivityStreamLink(BaseModel):
    stream_url: str = Field(
        description="signed link of the partner's live activity (Server-Sent Events) for an "
        "`EventSource`: no headers needed; valid about an hour"
    )


class ConsumerSeek(BaseModel):
    """Where a named consumer's next poll starts: after an ``iterator`` a page returned, or
    ``after`` a moment (``now``: only what comes next)."""

    after: str | None = Field(default=None, pattern=AFTER_PATTERN, max_length=64)
    iterator: str | None = Field(default=None, pattern=ITERATOR_PATTERN)


class ConsumerPosition(BaseModel):
    consumer: str
    iterator: str = Field(description="where the consumer's next poll starts")
