"""``GET /v1/packages/{id}/events``: Server-Sent Events of status changes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from app.auth.deps import LinkCallContextDep, LinkPrincipalDep
from app.kit import sse
from app.kit.errors import PROBLEM, UPSTREAM_ERRORS
from app.kit.params import PackageId
from app.kit.retry import REDIS_ERRORS
from app.live.deps import LiveServiceDep, stream_slot
from app.live.schemas import STATUS_EVENT_EXAMPLE
from app.live.service import Update
from app.upstream import CallContext

logger = logging.getLogger("app.live")

router = APIRouter(prefix="/v1/packages", tags=["packages"])

RETRY_MS = 3000
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: sse.documented_stream(
        "`status` events (`id:` = sequence number, `data:` a PackageStatusEvent) and heartbeat "
        "comments; the stream ends after a terminal status or when its link expires",
        "status",
        "^[0-9]+$",
        "PackageStatusEvent",
        example_id="3",
        example=STATUS_EVENT_EXAMPLE,
        retry_ms=RETRY_MS,
    ),
    204: {
        "description": "the final status was already delivered (`Last-Event-ID`): "
        "EventSource stops reconnecting"
    },
    **UPSTREAM_ERRORS,
    429: {
        "description": "over the partner's rate, or too many event streams open: the partner's "
        "on this server (`BFF_MAX_STREAMS_PER_PARTNER`) or the server's "
        "(`BFF_MAX_STREAMS_PER_PROCESS`); refused before anything is streamed",
        **PROBLEM,
    },
}


def _last_event_id(value: str | None) -> int | None:
    """A non-numeric or negative ``Last-Event-ID`` is not ours: start from the beginning."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


@router.get(
    "/{package_id}/events",
    name="stream_package_events",
    summary="Stream a package's status (Server-Sent Events)",
    responses=RESPONSES,
    response_class=sse.EventStreamResponse,
    dependencies=[Depends(stream_slot, scope="request")],  # held until the response is over
)
async def stream_package_events(
    package_id: PackageId,
    request: Request,
    principal: LinkPrincipalDep,
    ctx: LinkCallContextDep,
    service: LiveServiceDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=20,  # a sequence number; anything else not ours starts from the beginning
            description="the `id:` of the last event received: resume after it",
        ),
    ] = None,
) -> Response:
    """The package's status now and on every change until DONE, FAILED or EXPIRED, as
    Server-Sent Events; heartbeats in between. `EventSource` cannot send headers: open the
    signed `events_url` that create, merge, regenerate, status and the results view return
    (or send the usual headers). The stream ends when the link or token expires; a
    reconnect with `Last-Event-ID` (and a fresh link) resumes after the last event. Fed by
    the worker through Redis: open streams cost the upstream nothing. Open streams are
    capped per partner and per server (429 with `Retry-After` past a cap)."""
    updates = await service.open(ctx, package_id, _last_event_id(last_event_id), until=principal.expires_at)
    if updates is None:
        return Response(status_code=204)
    return sse.EventStreamResponse(_frames(updates, ctx))


async def _frames(updates: AsyncGenerator[Update, None], ctx: CallContext) -> AsyncIterator[str]:
    yield sse.retry(RETRY_MS)
    try:
        async with contextlib.aclosing(updates):  # closing the frames releases the subscription
            async for update in updates:
                yield (
                    sse.comment("keep-alive")
                    if update is None
                    else sse.event(str(update.seq), "status", update.as_json())
                )
    except REDIS_ERRORS as exc:  # headers are sent: end the stream, EventSource reconnects
        logger.warning("status stream ended early (request %s): %s", ctx.request_id, exc)
