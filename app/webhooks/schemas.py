"""Shapes of ``/v1/webhooks``: endpoints, their secrets, deliveries and attempts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.kit.types import IsoDateTime, absent_not_null, examples
from app.webhooks.events import PACKAGE_DATA_EXAMPLE, STAMP, EventType, WebhookEventType
from app.webhooks.models import AttemptOutcome, DeliveryStatus

RECOVER_BATCH = 1000  # failed deliveries one recover call queues again at most
ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": "ep_c17fcd6886ee454ba829b96cf7be76bf",
    "url": "https://partner.example/hooks/bff",
    "event_types": ["package.done", "package.failed"],
    "description": "CRM sync",
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "failing_since": None,
    "previous_secret_expires_at": None,
    "created_at": "2026-11-28T09:00:00Z",
    "updated_at": "2026-11-28T09:00:00Z",
}
ATTEMPT_EXAMPLE: dict[str, Any] = {
    "number": 1,
    "round": 1,
    "at": "2026-05-15T10:42:07.300Z",
    "outcome": "succeeded",
    "status_code": 204,
    "latency_ms": 84,
    "error": None,
    "response_body": "",
    "next_attempt_in_s": None,
}
DELIVERY_ID = "dlv_0f8e4c2a9b7d4e1f8a6c3b5d7e9f1a2b"
DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": DELIVERY_ID,
    "message_id": "msg_0f8e4c2a9b7d4e1f8a6c3b5d7e9f1a2b",
    "endpoint_id": ENDPOINT_EXAMPLE["id"],
    "event_type": "package.done",
    "status": "succeeded",
    "failure_reason": None,
    "next_attempt_at": None,
    "created_at": "2026-05-15T10:42:07.150Z",
    "updated_at": "2026-05-15T10:42:07.390Z",
    "payload": {"type": "package.done", "timestamp": STAMP, "data": PACKAGE_DATA_EXAMPLE},
    "attempts": [ATTEMPT_EXAMPLE],
}


def _ipv6_pattern() -> str:
    """RFC 3986's IPv6address, as ``ipaddress`` takes it."""
    h16, octet = "[0-9A-Fa-f]{1,4}", "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ls32 = rf"({h16}:{h16}|{octet}(\.{octet}){{3}})"
    forms = [f"({h16}:){{6}}{ls32}", f"::({h16}:){{5}}{ls32}", f"({h16})?::({h16}:){{4}}{ls32}"]
    for before, after in ((1, f"({h16}:){{3}}{ls32}"), (2, f"({h16}:){{2}}{ls32}"), (3, f"{h16}:{ls32}")):
        forms.append(f"(({h16}:){{0,{before}}}{h16})?::{after}")
    forms += [
        f"(({h16}:){{0,4}}{h16})?::{ls32}",
        f"(({h16}:){{0,5}}{h16})?::{h16}",
        f"(({h16}:){{0,6}}{h16})?::",
    ]
    return "(" + "|".join(forms) + ")"


_PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST = rf"([A-Za-z0-9._~%!$&'()*+,;=-]+|\[{_ipv6_pattern()}\])"
# What app.webhooks.ssrf.url_problem takes (addresses are checked when registering and sending).
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_HOST}(:{_PORT})?([/?#][!-~]*)?$"
URL_DESCRIPTION = (
    "http(s) URL: a host name, IPv4 or bracketed IPv6 address, an optional port 1-65535, no "
    "credentials or whitespace; the host must resolve to public addresses (422 otherwise)"
)
URL_FIELD = Field(
    min_length=1,
    max_length=2048,
    examples=["https://partner.example/hooks/bff"],
    description=URL_DESCRIPTION,
    json_schema_extra={"pattern": URL_PATTERN},
)


def _optional_url(schema: dict[str, Any]) -> None:
    absent_not_null(schema)
    schema["pattern"] = URL_PATTERN


class EndpointCreate(BaseModel):
    """Body of ``POST /v1/webhooks``."""

    model_config = ConfigDict(extra="forbid")

    url: str = URL_FIELD
    event_types: list[WebhookEventType] = Field(
        min_length=1, max_length=len(WebhookEventType), examples=[["package.done", "package.failed"]]
    )
    description: str | None = Field(default=None, max_length=500)

    @field_validator("event_types")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class EndpointUpdate(BaseModel):
    """Body of ``PATCH /v1/webhooks/{id}``; fields left out stay as they are.
    ``enabled: true`` re-enables a disabled endpoint and clears its failure streak."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description=URL_DESCRIPTION,
        json_schema_extra=_optional_url,
    )
    event_types: list[WebhookEventType] | None = Field(
        default=None, min_length=1, max_length=len(WebhookEventType), json_schema_extra=absent_not_null
    )
    description: str | None = Field(default=None, max_length=500, description="null removes it")
    enabled: bool | None = Field(default=None, strict=True, json_schema_extra=absent_not_null)

    @field_validator("event_types")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(value)) if value is not None else None

    @model_validator(mode="after")
    def _no_nulls(self) -> EndpointUpdate:
        for name in ("url", "event_types", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} must not be null (leave it out to keep it)")
        return self


class Endpoint(BaseModel):
    """A registered endpoint; its secret is shown only at creation and rotation."""

    model_config = examples(ENDPOINT_EXAMPLE)

    id: str
    url: str
    event_types: list[WebhookEventType]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="why the endpoint was disabled, if it was")
    disabled_at: dt.datetime | None
    failing_since: dt.datetime | None = Field(
        description="start of the current failure streak; disabled after BFF_WEBHOOK_DISABLE_AFTER_S"
    )
    previous_secret_expires_at: dt.datetime | None = Field(
        description="until then the previous secret signs too (after a rotation)"
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointWithSecret(Endpoint):
    model_config = examples({**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})

    secret: str = Field(description="whsec_… signing secret; store it now, it is not shown again")


class EndpointList(BaseModel):
    model_config = examples({"items": [ENDPOINT_EXAMPLE]})

    items: list[Endpoint]


class Attempt(BaseModel):
    """One try: its time, HTTP status (none if no answer), latency, error, answer's first 2 KB."""

    model_config = examples(ATTEMPT_EXAMPLE)

    number: int = Field(description="attempt number within its round")
    round: int = Field(description="1 for the original delivery, +1 per redelivery")
    at: dt.datetime
    outcome: AttemptOutcome
    status_code: int | None
    latency_ms: int | None
    error: str | None
    response_body: str | None
    next_attempt_in_s: float | None = Field(description="delay before the next attempt, if any")


class Delivery(BaseModel):
    model_config = examples(DELIVERY_EXAMPLE)

    id: str
    message_id: str = Field(description="the webhook-id header: the same on every attempt")
    endpoint_id: str
    event_type: EventType
    status: DeliveryStatus
    failure_reason: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    payload: dict[str, Any] = Field(description="the body sent, {type, timestamp, data}")
    attempts: list[Attempt] = Field(description="oldest first")


class DeliveryPage(BaseModel):
    model_config = examples({"items": [DELIVERY_EXAMPLE], "next_cursor": None})

    items: list[Delivery] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class RecoverRequest(BaseModel):
    """Body of ``POST /v1/webhooks/{id}/recover``: the window of the receiver's outage."""

    model_config = ConfigDict(extra="forbid")

    since: IsoDateTime = Field(
        description="re-send failed deliveries created at or after this time (RFC 3339)",
        examples=["2026-11-28T10:00:00Z"],
    )
    until: IsoDateTime | None = Field(
        default=None,
        description="and before this time (after `since`); default now",
        examples=["2026-11-28T14:00:00Z"],
    )

    @model_validator(mode="after")
    def _ordered(self) -> RecoverRequest:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("times need a UTC offset (e.g. 2026-11-28T10:00:00Z)")
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class RecoverAccepted(BaseModel):
    """202 answer of recover: how many failed deliveries were queued again."""

    model_config = examples({"recovering": 3, "more": False})

    recovering: int = Field(description="failed deliveries of the window now queued again")
    more: bool = Field(description=f"true when the window held more than {RECOVER_BATCH}: call again later")


class DeliveryAccepted(BaseModel):
    """202 answer of test and redeliver: the delivery now queued."""

    model_config = examples(
        {
            "id": DELIVERY_ID,
            "message_id": "msg_0f8e4c2a9b7d4e1f8a6c3b5d7e9f1a2b",
            "event_type": "webhook.test",
            "status": "pending",
        }
    )

    id: str
    message_id: str
    event_type: EventType
    status: DeliveryStatus
