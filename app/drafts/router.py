"""``/v1/drafts``: the create wizard's state, with ETag/If-Match; the logic is in service.py."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status

from app.auth.deps import CallContextDep
from app.drafts.deps import DraftServiceDep
from app.drafts.schemas import DraftCreate, DraftList, DraftPatch, DraftReplace, DraftView
from app.drafts.service import ANY_VERSION
from app.idempotency import REPLAYED_HEADER, Answer, IdempotencyDep
from app.kit.conditional import entity_tag, if_match, not_modified
from app.kit.deps import LinksDep, SettingsDep
from app.kit.errors import CLIENT_ERRORS, PRECONDITION_REQUIRED, PROBLEM, PreconditionRequired
from app.kit.http_docs import IDEMPOTENCY_CONFLICT_HEADERS, documented
from app.kit.params import ENTITY_TAGS_MAX_LENGTH, IF_MATCH_PATTERN, IfNoneMatch
from app.packages.responses import package_accepted
from app.packages.schemas import PackageAccepted

router = APIRouter(prefix="/v1/drafts", tags=["drafts"])

ERRORS = CLIENT_ERRORS
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: PROBLEM,
    412: PROBLEM,
    413: PROBLEM,
    428: PROBLEM,
}
DraftId = Annotated[str, Path(max_length=64, description="server-made draft id")]
# ``*`` or a list of entity tags (RFC 9110 If-Match; OWS is spaces and tabs); else 400.
IfMatch = Annotated[
    str,
    Header(
        description='the ETag of your last read, e.g. "v3" (428 without it, 412 when stale)',
        max_length=ENTITY_TAGS_MAX_LENGTH,
        json_schema_extra={"pattern": IF_MATCH_PATTERN, "examples": ['"v1"']},
    ),
]
_OUR_TAG = re.compile(r'"v([0-9]{1,18})"')


def etag(version: int) -> str:
    """Strong and derived from the version alone: every change bumps it."""
    return entity_tag(f"v{version}")


def expected_versions(header: str | None) -> frozenset[int] | None:
    """Versions an ``If-Match`` accepts (None for ``*``); 428 without one, 400 when malformed.
    Weak tags never match (RFC 9110 compares strongly), so they give 412, as tags of no
    version do."""
    if header is None:
        raise PreconditionRequired(PRECONDITION_REQUIRED)
    precondition = if_match(header, example='"v3"')
    if precondition.any:
        return ANY_VERSION
    return frozenset(int(ours.group(1)) for tag in precondition.tags if (ours := _OUR_TAG.fullmatch(tag)))


def _with_etag(response: Response, draft: DraftView) -> DraftView:
    response.headers["ETag"] = etag(draft.version)
    response.headers["Cache-Control"] = "private, no-cache"
    return draft


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DraftView,
    name="create_draft",
    summary="Create a wizard draft",
    responses={**ERRORS, 201: documented("Location", "ETag", "Cache-Control"), 409: PROBLEM, 413: PROBLEM},
)
async def create_draft(
    body: DraftCreate, service: DraftServiceDep, idempotency: IdempotencyDep
) -> DraftView | Response:
    """Start a wizard draft; `Location` and `ETag` come back with it. At most
    `BFF_MAX_DRAFTS_PER_USER` drafts per user (409 past it). Honours `Idempotency-Key`."""

    async def perform() -> Answer[DraftView]:
        draft = await service.create(body)
        headers = {"Location": f"/v1/drafts/{draft.id}", "ETag": etag(draft.version)}
        return Answer(draft, {**headers, "Cache-Control": "private, no-cache"})

    return await idempotency.respond("draft-create", body, perform)


@router.get("", response_model=DraftList, name="list_drafts", summary="List wizard drafts", responses=ERRORS)
async def list_drafts(service: DraftServiceDep, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> DraftList:
    """The caller's drafts, most recently changed first."""
    return await service.list(limit)


@router.get(
    "/{draft_id}",
    response_model=DraftView,
    name="get_draft",
    summary="Get a wizard draft",
    responses={
        **ERRORS,
        200: documented("ETag", "Cache-Control"),
        304: documented("ETag", description="Not Modified: If-None-Match matched"),
    },
)
async def get_draft(
    draft_id: DraftId,
    service: DraftServiceDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> DraftView | Response:
    """One draft with its `ETag` (send it back as `If-Match` to change the draft)."""
    draft = await service.get(draft_id)
    if not_modified(if_none_match, etag(draft.version)):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(draft.version)})
    return _with_etag(response, draft)


@router.put(
    "/{draft_id}",
    response_model=DraftView,
    name="replace_draft",
    summary="Replace a wizard draft",
    responses={**WRITE_ERRORS, 200: documented("ETag", "Cache-Control")},
)
async def replace_draft(
    draft_id: DraftId,
    body: DraftReplace,
    service: DraftServiceDep,
    response: Response,
    if_match: IfMatch,
) -> DraftView:
    """Replace step and state; needs `If-Match` (428 without, 412 when stale)."""
    expected = expected_versions(if_match)
    return _with_etag(response, await service.replace(draft_id, expected, body))


@router.patch(
    "/{draft_id}",
    response_model=DraftView,
    name="update_draft",
    summary="Patch a wizard draft",
    responses={**WRITE_ERRORS, 200: documented("ETag", "Cache-Control")},
)
async def update_draft(
    draft_id: DraftId,
    body: DraftPatch,
    service: DraftServiceDep,
    response: Response,
    if_match: IfMatch,
) -> DraftView:
    """JSON merge patch (RFC 7396) of step and state; needs `If-Match`."""
    expected = expected_versions(if_match)
    return _with_etag(response, await service.patch(draft_id, expected, body))


@router.delete(
    "/{draft_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="delete_draft",
    summary="Delete a wizard draft",
    responses=WRITE_ERRORS,
)
async def delete_draft(draft_id: DraftId, service: DraftServiceDep, if_match: IfMatch) -> None:
    """Forget a draft; needs `If-Match`."""
    await service.delete(draft_id, expected_versions(if_match))


@router.post(
    "/{draft_id}/submit",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PackageAccepted,
    name="submit_draft",
    summary="Submit a wizard draft",
    responses={
        **ERRORS,
        202: documented("Location", "Retry-After", "Idempotent-Replayed"),
        409: {**PROBLEM, "headers": IDEMPOTENCY_CONFLICT_HEADERS},
        502: PROBLEM,
        504: PROBLEM,
    },
)
async def submit_draft(
    draft_id: DraftId,
    service: DraftServiceDep,
    ctx: CallContextDep,
    settings: SettingsDep,
    links: LinksDep,
    response: Response,
) -> PackageAccepted:
    """Create the package the draft describes (422 with field errors while incomplete).
    The draft id is the idempotency key: submitting again, even at the same moment,
    answers with the same package."""
    submitted = await service.submit(ctx, draft_id)
    answer = package_accepted(settings, links, ctx.partner_id, submitted.package_id)
    response.headers.update(answer.headers)
    if submitted.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return answer.body
