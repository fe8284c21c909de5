"""HTTP for packages: parse, status codes, headers; the logic is in service.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from app.auth.deps import CallContextDep, LinkCallContextDep, charge
from app.idempotency import Answer, IdempotencyDep
from app.kit import conditional
from app.kit.answers import model_response
from app.kit.deps import LinksDep, SettingsDep
from app.kit.errors import PROBLEM, UPSTREAM_ERRORS
from app.kit.http_docs import documented, header_refs
from app.kit.params import ENTITY_TAGS_MAX_LENGTH, IF_MATCH_PATTERN, ClusterName, IfNoneMatch, PackageId
from app.kit.types import Cursor
from app.packages import presenters
from app.packages.deps import PackageCallDep, PackageServiceDep
from app.packages.presenters import csv_disposition
from app.packages.responses import package_accepted
from app.packages.schemas import (
    CreatePackageRequest,
    EvaluationSettingsUpdate,
    EvaluationView,
    MergePackagesRequest,
    PackageAccepted,
    PackageList,
    PackageStatusView,
    PackageView,
)
from app.upstream.models import PackageStatus

router = APIRouter(prefix="/v1/packages", tags=["packages"])

ERRORS = UPSTREAM_ERRORS
# 409: a retry that came while the first request with its Idempotency-Key was still running.
IDEMPOTENT: dict[int | str, dict[str, Any]] = {409: PROBLEM}
AGE_HEADER = {
    "Age": {"description": "seconds since the worker read this status", "schema": {"type": "string"}}
}
LIST_AGE_HEADER = {
    "Age": {
        "description": "seconds since the upstream list these rows come from was read (the BFF's "
        "own changes show at once); a few seconds while the list is read, up to a day while the "
        "upstream fails",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
# Forwarded from the upstream's answer as they came (app/upstream/http.py, ENTITY_HEADERS).
CSV_HEADERS = {
    **header_refs("Content-Disposition", "Cache-Control"),
    **{
        name: {"description": f"the upstream's {name}, when it sent one", "schema": {"type": "string"}}
        for name in ("Content-Encoding", "ETag", "Last-Modified")
    },
}
CSV_SCHEMA = {
    "type": "string",
    "description": "a header line, then one line per customer (the upstream's columns, as sent)",
    "examples": [
        "customer_id,email,first_name,last_name,purchases,total_spent\n"
        "cust_1,cust_1@example.com,Anna,Huber,3,147.00\n"
    ],
}


@router.get(
    "",
    response_model=PackageList,
    name="list_packages",
    summary="List packages",
    responses={**ERRORS, 200: {"headers": LIST_AGE_HEADER}},
)
async def list_packages(
    request: Request,
    call: PackageCallDep,
    status_: Annotated[
        list[PackageStatus] | None,
        Query(alias="status", max_length=len(PackageStatus), description="only these (repeat the parameter)"),
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="search in title and id")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Response:
    """The partner's packages, newest first; `merge_id` split into `merged_from`. Served from
    the list the BFF keeps: your own creates, merges and regenerations show at once, changes
    made elsewhere within a few seconds, and a cursor stays valid while packages arrive.
    `Age` says how old the upstream read is; while the upstream fails, the kept list is
    served (up to a day old) rather than a 502. A search (`q`) looks at 1,024 packages per
    request at most: a page may then hold fewer than `limit` (even none) and a `next_cursor`
    that goes on; each 256 packages looked at cost one more request of the rate limit."""
    page = await call.service.list(call.ctx, statuses=status_ or [], q=q, limit=limit, cursor=cursor)
    charge(request, rows=page.scanned)
    age = str(max(0, int(page.age_s)))  # Redis time may step back a little: never a negative Age
    return Response(page.body(), media_type="application/json", headers={"Age": age})


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PackageAccepted,
    name="create_package",
    summary="Create a package",
    responses={**ERRORS, **IDEMPOTENT, 202: documented("Location", "Retry-After")},
)
async def create_package(
    body: CreatePackageRequest,
    ctx: CallContextDep,
    service: PackageServiceDep,
    settings: SettingsDep,
    links: LinksDep,
    idempotency: IdempotencyDep,
) -> PackageAccepted | Response:
    """Start a build; the package is INITIALIZING and a watch follows it to the end.
    With `Idempotency-Key`, a retry gets the first answer (`Idempotent-Replayed: true`)."""

    async def perform() -> Answer[PackageAccepted]:
        return package_accepted(settings, links, ctx.partner_id, await service.create(ctx, body))

    return await idempotency.respond("create", body, perform)


@router.post(
    "/merge",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PackageAccepted,
    name="merge_packages",
    summary="Merge packages",
    responses={**ERRORS, **IDEMPOTENT, 202: documented("Location", "Retry-After")},
)
async def merge_packages(
    body: MergePackagesRequest,
    ctx: CallContextDep,
    service: PackageServiceDep,
    settings: SettingsDep,
    links: LinksDep,
    idempotency: IdempotencyDep,
) -> PackageAccepted | Response:
    """Merge two or more packages into a new one (its `merged_from` lists them).
    Honours `Idempotency-Key`."""

    async def perform() -> Answer[PackageAccepted]:
        return package_accepted(settings, links, ctx.partner_id, await service.merge(ctx, body.package_ids))

    return await idempotency.respond("merge", body, perform)


@router.get(
    "/{package_id}",
    response_model=PackageView,
    name="get_package",
    summary="Get a package's results view",
    responses={
        **ERRORS,
        200: documented("ETag"),
        304: documented("ETag", description="Not Modified: If-None-Match matched"),
    },
)
async def get_package(
    package_id: PackageId,
    call: PackageCallDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The results page in one call: package, evaluation settings and per-cluster results.
    Carries an `ETag`; `If-None-Match` with it answers 304."""
    view = await call.service.view(call.ctx, package_id)
    headers = {"ETag": view.etag}
    if view.matches(if_none_match):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(view.body, media_type="application/json", headers=headers)


@router.get(
    "/{package_id}/status",
    response_model=PackageStatusView,
    name="get_package_status",
    summary="Get a package's status",
    responses={**ERRORS, 200: {"headers": AGE_HEADER}},
)
async def get_package_status(package_id: PackageId, call: PackageCallDep) -> Response:
    """Just `{id, status, progress}`. A build the worker polled less than one poll interval
    ago is answered from that poll, with an `Age` header (seconds); otherwise from the upstream."""
    view, age_s = await call.service.status(call.ctx, package_id)
    return model_response(view, None if age_s is None else {"Age": str(int(age_s))})


@router.get(
    "/{package_id}/evaluation",
    response_model=EvaluationView,
    name="get_evaluation",
    summary="Get a package's evaluation",
    responses={**ERRORS, 200: documented("ETag")},
)
async def get_evaluation(package_id: PackageId, call: PackageCallDep, response: Response) -> EvaluationView:
    """Attribution settings and per-cluster evaluation results; the `ETag` is the settings'
    (send it as `If-Match` when saving them)."""
    view = await call.service.evaluation(call.ctx, package_id)
    response.headers["ETag"] = presenters.settings_etag(view.settings)
    return view


@router.put(
    "/{package_id}/evaluation",
    response_model=EvaluationView,
    name="update_evaluation",
    summary="Change attribution settings",
    responses={**ERRORS, 200: documented("ETag"), 412: PROBLEM},
)
async def update_evaluation(
    package_id: PackageId,
    body: EvaluationSettingsUpdate,
    call: PackageCallDep,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(
            description="the settings' ETag of your last read: 412 if they changed since",
            max_length=ENTITY_TAGS_MAX_LENGTH,
            json_schema_extra={"pattern": IF_MATCH_PATTERN},
        ),
    ] = None,
) -> EvaluationView:
    """Save attribution settings (the upstream re-evaluates) and return the fresh evaluation.
    With `If-Match` (the `ETag` of `GET .../evaluation`), a change made meanwhile in another
    tab is not overwritten: 412."""
    # An empty header names no version: no precondition.
    precondition = (
        conditional.if_match(if_match, example='"s1f2…"') if if_match and if_match.strip() else None
    )
    view = await call.service.update_evaluation(call.ctx, package_id, body, precondition)
    response.headers["ETag"] = presenters.settings_etag(view.settings)
    return view


@router.post(
    "/{package_id}/regenerate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PackageAccepted,
    name="regenerate_package",
    summary="Regenerate an expired package",
    responses={**ERRORS, 409: PROBLEM, 202: documented("Location", "Retry-After")},
)
async def regenerate_package(
    package_id: PackageId,
    ctx: CallContextDep,
    service: PackageServiceDep,
    settings: SettingsDep,
    links: LinksDep,
    idempotency: IdempotencyDep,
) -> PackageAccepted | Response:
    """Rebuild an EXPIRED package (409 for any other status). Honours `Idempotency-Key`."""

    async def perform() -> Answer[PackageAccepted]:
        await service.regenerate(ctx, package_id)
        return package_accepted(settings, links, ctx.partner_id, package_id)

    return await idempotency.respond("regenerate", None, perform)


@router.get(
    "/{package_id}/clusters/{tc:path}/customers.csv",
    name="download_customer_list",
    summary="Download a cluster's customers (CSV)",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"text/csv": {"schema": CSV_SCHEMA}}, "headers": CSV_HEADERS}},
)
async def download_customer_list(
    package_id: PackageId, tc: ClusterName, ctx: LinkCallContextDep, service: PackageServiceDep
) -> StreamingResponse:
    """One cluster's customers as CSV, streamed straight from the upstream. Open the signed
    `csv_url` of the results view (it works in `<a href download>`, no headers needed), or
    send the usual headers."""
    upstream = await service.open_customer_list(ctx, package_id, tc)
    headers = upstream.headers
    media_type = headers.pop("content-type", "text/csv; charset=utf-8")
    headers["Content-Disposition"] = csv_disposition(tc)
    headers["Cache-Control"] = "private, no-store"
    return StreamingResponse(
        upstream.chunks(), media_type=media_type, headers=headers, background=BackgroundTask(upstream.aclose)
    )
