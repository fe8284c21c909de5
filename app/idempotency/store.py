"""Idempotency records and in-flight markers in Redis; nothing else lives here."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Literal

from redis.asyncio import Redis

from app.idempotency import keys as idempotency_keys
from app.kit import lua


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The part of an HTTP answer that a replay repeats."""

    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A key's first answer; ``kept`` False when its body was too large to keep (status and
    headers are, so a retry learns the outcome and where the resource is)."""

    fingerprint: str
    response: StoredResponse
    kept: bool = True

    def dumps(self) -> str:
        return json.dumps({"fingerprint": self.fingerprint, "kept": self.kept, **asdict(self.response)})

    @classmethod
    def loads(cls, text: str) -> IdempotencyRecord:
        data = json.loads(text)
        response = StoredResponse(int(data["status"]), str(data["body"]), dict(data["headers"]))
        return cls(str(data["fingerprint"]), response, bool(data.get("kept", True)))


@dataclass(frozen=True, slots=True)
class Slot:
    """One attempt at one key: ``marker`` tells our in-flight marker from another's."""

    partner_id: str
    caller: str
    scope: str
    key: str
    fingerprint: str
    marker: str

    def keys(self) -> list[str]:
        return [
            idempotency_keys.idempotency(self.partner_id, self.caller, self.scope, self.key),
            idempotency_keys.idempotency_in_flight(self.partner_id, self.caller, self.scope, self.key),
        ]

    def in_flight_value(self) -> str:
        return json.dumps({"marker": self.marker, "fingerprint": self.fingerprint})


@dataclass(frozen=True, slots=True)
class Claim:
    """What ``claim`` found: a stored answer, the key for us, or another request on it."""

    state: Literal["stored", "claimed", "busy", "over"]
    record: IdempotencyRecord | None = None
    holder_fingerprint: str | None = None


def _hour(now: float) -> int:
    return int(now // 3600)


class IdempotencyStore:
    def __init__(self, redis: Redis, *, budget_bytes: int) -> None:
        self._claim = lua.script(redis, "idempotency/lua/claim.lua")
        self._finish = lua.script(redis, "idempotency/lua/finish.lua")
        self._budget_bytes = budget_bytes

    async def claim(self, slot: Slot) -> Claim:
        ttl_ms = idempotency_keys.IDEMPOTENCY_IN_FLIGHT_TTL_S * 1000
        hour = _hour(time.time())
        buckets = [
            idempotency_keys.idempotency_bytes(slot.partner_id, hour - back)
            for back in range(idempotency_keys.IDEMPOTENCY_BUDGET_HOURS)
        ]
        state, payload = await self._claim(
            keys=[*slot.keys(), *buckets], args=[slot.in_flight_value(), ttl_ms, self._budget_bytes]
        )
        if state == "stored":
            return Claim("stored", record=IdempotencyRecord.loads(payload))
        if state == "claimed":
            return Claim("claimed")
        if state == "over":
            return Claim("over")
        holder = json.loads(payload)["fingerprint"] if payload else None
        return Claim("busy", holder_fingerprint=holder)

    async def finish(self, slot: Slot, record: IdempotencyRecord | None) -> None:
        """Store the answer (when given, counted against the partner's budget) and drop our
        in-flight marker, in one step."""
        answer = record.dumps() if record else ""
        bucket = idempotency_keys.idempotency_bytes(slot.partner_id, _hour(time.time()))
        args: list[str | int] = [
            slot.in_flight_value(),
            answer,
            idempotency_keys.IDEMPOTENCY_TTL_S,
            idempotency_keys.IDEMPOTENCY_BYTES_TTL_S,
        ]
        await self._finish(keys=[*slot.keys(), bucket], args=args)
