"""Run an operation at most once per (partner, scope, Idempotency-Key); replay its answer after.

Modelled on Stripe and draft-ietf-httpapi-idempotency-key-header: the first answer is kept
24 h and replayed for a retry with the same request; the same key with another request is a
422; a retry that arrives while the first is still running waits for it (bounded) or gets 409.
Answers of 5xx are not kept, so a retry can still succeed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from app.idempotency.store import IdempotencyRecord, IdempotencyStore, Slot, StoredResponse
from app.kit.errors import Conflict, TooManyRequests, ValidationProblem, field_error
from app.kit.retry import REDIS_ERRORS

logger = logging.getLogger("app.idempotency")
POLL_S = 0.05


def fingerprint(method: str, path: str, body: Any) -> str:
    """sha256 of method, path and the canonical JSON of the (validated) body."""
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome:
    response: StoredResponse
    replayed: bool


class IdempotencyService:
    def __init__(self, store: IdempotencyStore, *, wait_s: float, max_answer_bytes: int) -> None:
        self._store = store
        self._wait_s = wait_s
        self._max_answer_bytes = max_answer_bytes

    async def once(
        self,
        partner_id: str,
        caller: str,
        scope: str,
        key: str,
        request_fingerprint: str,
        perform: Callable[[], Awaitable[StoredResponse]],
    ) -> Outcome:
        """The stored answer for the key, or ``perform()``'s, run by exactly one caller."""
        slot = Slot(partner_id, caller, scope, key, request_fingerprint, secrets.token_hex(16))
        deadline = time.monotonic() + self._wait_s
        while True:
            claim = await self._store.claim(slot)
            if claim.record is not None:
                if claim.record.fingerprint != request_fingerprint:
                    raise _reused()
                if not claim.record.kept:
                    raise _not_kept(key, claim.record.response)
                return Outcome(claim.record.response, replayed=True)
            if claim.state == "over":
                raise TooManyRequests(
                    "this partner's stored Idempotency-Key answers reached their budget "
                    "(BFF_IDEMPOTENCY_BUDGET_BYTES over 24 h); retry later, or send the "
                    "request without an Idempotency-Key",
                    headers={"Retry-After": "3600"},
                )
            if claim.state == "claimed":
                run = asyncio.ensure_future(self._run(slot, perform))
                run.add_done_callback(_retrieve)
                # Shielded: a client that hangs up must not leave the key half-done.
                return Outcome(await asyncio.shield(run), replayed=False)
            if claim.holder_fingerprint not in (None, request_fingerprint):
                raise _reused()
            if time.monotonic() >= deadline:
                raise Conflict(
                    f"a request with Idempotency-Key {key!r} is still being processed; "
                    "retry shortly to get its answer",
                    headers={"Retry-After": "1"},
                )
            await asyncio.sleep(POLL_S)

    async def _run(self, slot: Slot, perform: Callable[[], Awaitable[StoredResponse]]) -> StoredResponse:
        try:
            response = await perform()
        except BaseException:
            await self._finish(slot, None)
            raise
        record = None  # answers of 5xx are not kept: a retry may still succeed
        if response.status < 500:
            record = IdempotencyRecord(slot.fingerprint, response)
            if len(response.body.encode()) > self._max_answer_bytes:
                record = IdempotencyRecord(slot.fingerprint, replace(response, body=""), kept=False)
        await self._finish(slot, record)
        return response

    async def _finish(self, slot: Slot, record: IdempotencyRecord | None) -> None:
        """Best effort: the operation already happened, so its answer is still given when
        Redis fails here; the marker then expires by itself."""
        try:
            await self._store.finish(slot, record)
        except REDIS_ERRORS as exc:
            logger.warning("could not record the answer for Idempotency-Key %r: %s", slot.key, exc)


def _retrieve(task: asyncio.Future[StoredResponse]) -> None:
    """Marks the outcome as seen, so a run whose caller hung up logs no stray warning."""
    if not task.cancelled():
        task.exception()


def _not_kept(key: str, first: StoredResponse) -> Conflict:
    """A retry of a request whose answer was too large to keep: the outcome, and where the
    resource is (its ``Location``), rather than a second execution."""
    location = first.headers.get("location")
    where = f"; read it at {location}" if location else ""
    return Conflict(
        f"the request with Idempotency-Key {key!r} was already answered {first.status}, but its "
        f"answer was too large to keep for replay (BFF_IDEMPOTENCY_MAX_ANSWER_BYTES){where}",
        headers={"Location": location} if location else None,
    )


def _reused() -> ValidationProblem:
    return ValidationProblem(
        "this Idempotency-Key was already used with a different request (method, path or "
        "body); use a new key for a new request",
        errors=[
            field_error(
                ["header", "Idempotency-Key"], "key reused with a different request body", "idempotency"
            )
        ],
    )
