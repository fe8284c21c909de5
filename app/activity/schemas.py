"""What the activity endpoints answer; the events are the webhook models themselves."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from app.kit.types import DATE_TIME_PATTERN, absent_not_null, examples
from app.webhooks.events import EVENT_MODELS, PACKAGE_DATA_EXAMPLE, STAMP, WebhookEventType

_LOGGED = tuple(WebhookEventType)
"""What the activity log keeps: every event the service emits (``webhook.test`` is one
endpoint's, on request, and is not logged)."""
# The webhook payload schemas themselves (the ``webhooks`` section's components), by
# reference: the feed serves the stored bodies as they are and never re-validates them.
LoggedEvent = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "oneOf": [{"$ref": f"#/components/schemas/{EVENT_MODELS[t].__name__}"} for t in _LOGGED],
            "discriminator": {
                "propertyName": "type",
                "mapping": {t: f"#/components/schemas/{EVENT_MODELS[t].__name__}" for t in _LOGGED},
            },
        }
    ),
]
AFTER_PATTERN = "^now$|" + DATE_TIME_PATTERN
CONSUMER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ITERATOR_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
LAST_EVENT_ID_PATTERN = r"^[0-9]{1,16}-[0-9]{1,20}$"
# What a reconnect may send back: an id the stream sent, or nothing (an empty
# ``Last-Event-ID``, as a client that received no event yet sends it: "from now").
RESUME_PATTERN = r"^([0-9]{1,16}-[0-9]{1,20})?$"
# The longest each pattern allows, written out for the document's readers (and its linters).
CONSUMER_MAX_LENGTH = 64
ITERATOR_MAX_LENGTH = 80
LAST_EVENT_ID_MAX_LENGTH = 37

ITEM_EXAMPLE: dict[str, Any] = {
    "id": "msg_5c1f0e9a7b2d4c6e8f0a1b2c3d4e5f60",
    "event": {"type": "package.done", "timestamp": STAMP, "data": PACKAGE_DATA_EXAMPLE},
}
ITERATOR_EXAMPLE = "aXQxLjE3NDczMDU3MjcxMjAtMA"


class ActivityItem(BaseModel):
    """One event as it was emitted: ``id`` is its ``webhook-id``, ``event`` its webhook body
    (the same bytes every endpoint received)."""

    model_config = examples(ITEM_EXAMPLE)

    id: str = Field(description="the event's id: the `webhook-id` of its deliveries")
    event: LoggedEvent


class ActivityPage(BaseModel):
    """Events oldest first. Pass ``iterator`` back for the next page; ``done`` says the
    end of the log was reached (poll again later with the same iterator). A filtered page
    may be short or empty and not ``done``: keep following the iterator."""

    model_config = examples({"data": [ITEM_EXAMPLE], "iterator": ITERATOR_EXAMPLE, "done": True})

    data: list[ActivityItem]
    iterator: str = Field(description="where the next page starts (opaque)")
    done: bool


class ActivityStreamLink(BaseModel):
    model_config = examples(
        {
            "stream_url": "https://bff.example/v1/activity/stream?partner_id=partner-1&exp=1767225600&sig=Zx3kq0T9b1n8Qm4VwYp2sA"
        }
    )

    stream_url: str = Field(
        description="signed link of the partner's live activity (Server-Sent Events) for an "
        "`EventSource`: no headers needed; valid about an hour"
    )


class ConsumerSeek(BaseModel):
    """Where a named consumer's next poll starts: after an ``iterator`` a page returned, or
    ``after`` a moment (``now``: only what comes next). Exactly one of them."""

    # Exactly one member (the only two allowed): as a member count, which generated clients
    # keep as one typed model (a ``oneOf`` of ``required`` lists made openapi-python-client's
    # body an ``Any``).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1, "maxProperties": 1})

    after: str | None = Field(
        default=None, pattern=AFTER_PATTERN, max_length=64, json_schema_extra=absent_not_null
    )
    iterator: str | None = Field(
        default=None,
        pattern=ITERATOR_PATTERN,
        max_length=ITERATOR_MAX_LENGTH,
        json_schema_extra=absent_not_null,
    )

    @field_validator("after", "iterator", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("leave it out instead of null")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ConsumerSeek:
        if (self.after is None) == (self.iterator is None):
            raise ValueError("give exactly one of after and iterator")
        return self


class ConsumerPosition(BaseModel):
    model_config = examples({"consumer": "crm-sync", "iterator": ITERATOR_EXAMPLE})

    consumer: str
    iterator: str = Field(description="where the consumer's next poll starts")
