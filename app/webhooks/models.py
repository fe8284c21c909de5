"""What the store keeps: endpoints and deliveries as Redis hashes, attempts as JSON."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel


class DeliveryStatus(StrEnum):
    """A delivery is pending until an attempt succeeds or its retries are spent (failed)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


AttemptOutcome = Literal["succeeded", "failed", "refused"]
SECRET_OVERLAP_S = 24 * 3600


class EndpointRecord(BaseModel):
    """One partner endpoint; ``failing_since`` starts a failure streak, a success clears it."""

    id: str
    partner_id: str
    url: str
    event_types: list[str]
    description: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    disabled_at: float | None = None
    failing_since: float | None = None
    created_at: float
    updated_at: float
    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: float | None = None

    def signing_secrets(self, now: float) -> list[str]:
        """The current secret, plus the previous one during the 24 h after a rotation."""
        active = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            active.append(self.previous_secret)
        return active


class DeliveryRecord(BaseModel):
    """One event for one endpoint. ``body`` is serialized once; every attempt sends it as is.

    A redelivery starts a new ``round`` (attempt numbers restart at 1); jobs of an
    older round, or of an attempt already recorded, find nothing to do.
    """

    id: str
    partner_id: str
    endpoint_id: str
    msg_id: str
    event_type: str
    event_key: str
    body: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    round: int = 1
    next_attempt: int = 1
    next_attempt_at: float | None = None
    attempt_count: int = 0
    failure_reason: str | None = None
    created_at: float
    updated_at: float


class AttemptRecord(BaseModel):
    """One HTTP attempt (or one refused before any request was made)."""

    number: int
    round: int
    at: float
    outcome: AttemptOutcome
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    response_body: str | None = None
    next_attempt_in_s: float | None = None


def delivery_ids(endpoint_id: str, event_key: str) -> tuple[str, str]:
    """Deterministic (delivery id, webhook-id) of one event for one endpoint: the delivery is
    the endpoint's, the ``webhook-id`` the event's (the same for every endpoint and in the
    activity feed, as Svix does), so a receiver, the feed and the log agree on one id."""
    digest = hashlib.sha256(f"{endpoint_id}\x00{event_key}".encode()).hexdigest()[:32]
    return f"dlv_{digest}", message_id(event_key)


def message_id(event_key: str) -> str:
    """The id of one event (``webhook-id``, the activity feed's ``id``). SHA-1 because the
    status scripts derive the same id in Redis Lua (``redis.sha1hex``); an id, not a secret."""
    return "msg_" + hashlib.sha1(event_key.encode(), usedforsecurity=False).hexdigest()[:32]


def to_hash(record: BaseModel) -> dict[str, str]:
    """Hash fields of a record: None is an absent field, lists are JSON, bools are 1/0."""
    fields: dict[str, str] = {}
    for name, value in record.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, bool):
            fields[name] = "1" if value else "0"
        elif isinstance(value, list):
            fields[name] = json.dumps(value)
        else:
            fields[name] = str(value)
    return fields


def endpoint_from_hash(fields: dict[str, str]) -> EndpointRecord:
    data: dict[str, object] = dict(fields)
    data["event_types"] = json.loads(fields.get("event_types", "[]"))
    data["enabled"] = fields.get("enabled", "1") == "1"
    return EndpointRecord.model_validate(data)


def delivery_from_hash(fields: dict[str, str]) -> DeliveryRecord:
    """Empty strings are cleared optional fields (a Lua write cannot delete and set at once)."""
    return DeliveryRecord.model_validate({k: v for k, v in fields.items() if v != ""})
