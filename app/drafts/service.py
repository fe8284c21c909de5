"""Draft logic: versions and preconditions, merge patches, size bounds, submission."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.drafts.schemas import DraftCreate, DraftList, DraftPatch, DraftReplace, DraftView
from app.drafts.store import NOT_FOUND, STALE, SUBMITTED, DraftRecord, DraftStore
from app.idempotency.service import IdempotencyService, fingerprint
from app.idempotency.store import StoredResponse
from app.kit.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ValidationProblem,
    field_error,
)
from app.packages.schemas import CreatePackageRequest
from app.packages.service import PackageService
from app.upstream import CallContext

ANY_VERSION = None  # ``If-Match: *``


SUBMIT_SCOPE = "draft-submit"  # a namespace of its own: no client Idempotency-Key can block it


@dataclass(frozen=True, slots=True)
class Submitted:
    """The package a draft became; ``replayed`` when an earlier submit made it."""

    package_id: str
    replayed: bool


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def _iso(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(round(stamp, 3), dt.UTC)


class DraftService:
    """One caller's drafts; ``expected`` versions come from ``If-Match`` (None means ``*``)."""

    def __init__(
        self,
        store: DraftStore,
        packages: PackageService,
        submissions: IdempotencyService,
        *,
        ttl_s: int,
        max_bytes: int,
        max_drafts: int,
    ) -> None:
        self._max_drafts = max_drafts
        self._store = store
        self._packages = packages
        self._submissions = submissions
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes

    async def create(self, body: DraftCreate) -> DraftView:
        now = time.time()
        record = DraftRecord(
            id=uuid.uuid4().hex,
            step=body.step,
            state=body.state,
            version=1,
            created_at=now,
            updated_at=now,
            package_id=None,
        )
        if not await self._store.create(record, self._encode(body.step, body.state), cap=self._max_drafts):
            raise Conflict(
                f"you already have {self._max_drafts} drafts (BFF_MAX_DRAFTS_PER_USER); "
                "delete one you no longer need first"
            )
        return self._view(record, now)

    async def get(self, draft_id: str) -> DraftView:
        return self._view(await self._load(draft_id), time.time())

    async def list(self, limit: int) -> DraftList:
        now = time.time()
        return DraftList(items=[self._view(r, now) for r in await self._store.list(limit)])

    async def replace(self, draft_id: str, expected: Collection[int] | None, body: DraftReplace) -> DraftView:
        current = self._check(await self._load(draft_id), expected)
        return await self._write(current, body.step, body.state)

    async def patch(self, draft_id: str, expected: Collection[int] | None, patch: DraftPatch) -> DraftView:
        current = self._check(await self._load(draft_id), expected)
        if "step" in patch.model_fields_set and patch.step is None:
            raise ValidationProblem(
                "step cannot be removed; send one of events, targeting, preview",
                errors=[field_error(["step"], "must not be null")],
            )
        state = current.state
        if "state" in patch.model_fields_set:
            state = merge_patch(current.state, patch.state) if patch.state is not None else {}
        return await self._write(current, patch.step or current.step, state)

    async def delete(self, draft_id: str, expected: Collection[int] | None) -> None:
        current = self._check(await self._load(draft_id), expected)
        outcome = await self._store.delete(draft_id, expected_version=current.version)
        self._raise_for(outcome, draft_id)

    async def submit(self, ctx: CallContext, draft_id: str) -> Submitted:
        """Create the package the draft describes, once: the draft id is the idempotency
        key, so a double click (even two at the same moment) makes one package."""
        draft = await self._load(draft_id)
        if draft.package_id:
            return Submitted(draft.package_id, replayed=True)
        request = _create_request(draft)

        async def create() -> StoredResponse:
            package_id = await self._packages.create(ctx, request)
            await self._store.mark_submitted(draft_id, package_id, time.time())
            return StoredResponse(202, package_id, {})

        outcome = await self._submissions.once(
            ctx.partner_id,
            self._store.sub,
            SUBMIT_SCOPE,
            draft_id,
            fingerprint("POST", f"/v1/drafts/{draft_id}/submit", request),
            create,
        )
        return Submitted(outcome.response.body, outcome.replayed)

    async def _load(self, draft_id: str) -> DraftRecord:
        record = await self._store.get(draft_id)
        if record is None:
            raise NotFound("draft", draft_id)
        return record

    @staticmethod
    def _check(current: DraftRecord, expected: Collection[int] | None) -> DraftRecord:
        if expected is not ANY_VERSION and current.version not in expected:
            raise PreconditionFailed(
                f"draft {current.id!r} changed since you read it (now version "
                f"{current.version}); read it again and reapply your change"
            )
        return current

    async def _write(self, current: DraftRecord, step: str, state: dict[str, Any]) -> DraftView:
        """Only a draft not yet submitted changes (deleting a submitted one is fine)."""
        if current.package_id:
            raise Conflict(
                f"draft {current.id!r} was submitted as package "
                f"{current.package_id!r} and can no longer change"
            )
        now = time.time()
        version = await self._store.replace(
            current.id,
            expected_version=current.version,
            step=step,
            state_json=self._encode(step, state),
            now=now,
        )
        self._raise_for(version, current.id)
        record = DraftRecord(
            id=current.id,
            step=step,
            state=state,
            version=version,
            created_at=current.created_at,
            updated_at=now,
            package_id=None,
        )
        return self._view(record, now)

    @staticmethod
    def _raise_for(outcome: int, draft_id: str) -> None:
        """Another writer won between our read and our write: the caller's version is stale."""
        if outcome == NOT_FOUND:
            raise NotFound("draft", draft_id)
        if outcome == STALE:
            raise PreconditionFailed(
                f"draft {draft_id!r} was changed by another request "
                "at the same time; read it again and reapply your change"
            )
        if outcome == SUBMITTED:
            raise Conflict(f"draft {draft_id!r} was submitted and can no longer change")

    def _encode(self, step: str, state: dict[str, Any]) -> str:
        """The state as stored, refused (413) past ``BFF_DRAFT_MAX_BYTES``."""
        state_json = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
        size = len(state_json.encode()) + len(step)
        if size > self._max_bytes:
            raise PayloadTooLarge(
                f"the draft would be {size} bytes; a draft may hold at most {self._max_bytes} bytes"
            )
        return state_json

    def _view(self, record: DraftRecord, now: float) -> DraftView:
        return DraftView(
            id=record.id,
            step=record.step,
            state=record.state,
            version=record.version,
            created_at=_iso(record.created_at),
            updated_at=_iso(record.updated_at),
            expires_at=_iso(now + self._ttl_s),
            package_id=record.package_id,
        )


def _create_request(draft: DraftRecord) -> CreatePackageRequest:
    """The draft's state as a valid create payload (422 listing every missing or invalid
    field). Members of the state that are not create fields are the wizard's own (e.g.
    labels for display) and are left out."""
    payload = {
        name: value for name, value in draft.state.items() if name in CreatePackageRequest.model_fields
    }
    try:
        return CreatePackageRequest.model_validate(payload)
    except ValidationError as exc:
        errors = [
            field_error(["state", *(str(p) for p in e["loc"])], e["msg"], e["type"]) for e in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationProblem(
            f"the draft is not a complete package yet: {summary}", errors=errors
        ) from None
