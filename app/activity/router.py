"""``/v1/activity``: the partner's events to page through, to poll as a named consumer, and
to follow live (Server-Sent Events)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response

from app.activity.deps import ActivityServiceDep, ActivityStreamsDep, activity_stream_slot
from app.activity.log import Filters
from app.activity.positions import parse_last_event_id
from app.activity.schemas import (
    AFTER_PATTERN,
    CONSUMER_MAX_LENGTH,
    CONSUMER_PATTERN,
    ITEM_EXAMPLE,
    ITERATOR_MAX_LENGTH,
    ITERATOR_PATTERN,
    LAST_EVENT_ID_MAX_LENGTH,
    LAST_EVENT_ID_PATTERN,
    RESUME_PATTERN,
    ActivityPage,
    ActivityStreamLink,
    ConsumerPosition,
    ConsumerSeek,
)
from app.activity.service import FeedPage
from app.activity.stream import Update
from app.auth.deps import LinkPrincipalDep, PrincipalDep, charge
from app.kit import sse
from app.kit.errors import PROBLEM
from app.kit.params import PACKAGE_ID_MAX_LENGTH, PACKAGE_ID_PATTERN
from app.kit.retry import REDIS_ERRORS
from app.webhooks.events import WebhookEventType

logger = logging.getLogger("app.activity")

router = APIRouter(prefix="/v1/activity", tags=["activity"])

RETRY_MS = 3000
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 403: PROBLEM, 422: PROBLEM, 429: PROBLEM}
Limit = Annotated[int, Query(ge=1, le=500, description="events per page, at most")]
EventTypes = Annotated[
    list[WebhookEventType] | None,
    Query(alias="event_type", max_length=6, description="only these types (repeat the parameter)"),
]
PackageFilter = Annotated[
    str | None,
    Query(
        pattern=PACKAGE_ID_PATTERN,
        max_length=PACKAGE_ID_MAX_LENGTH,
        description="only the events of this package",
    ),
]
Consumer = Annotated[
    str,
    Path(
        pattern=CONSUMER_PATTERN,
        max_length=CONSUMER_MAX_LENGTH,
        description="a name the caller picks; the server keeps its position",
    ),
]
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: sse.documented_stream(
        "`activity` events (`id:` = the position in the log, `data:` an ActivityItem) and "
        "heartbeat comments; the stream ends when its link or token expires",
        "activity",
        LAST_EVENT_ID_PATTERN,
        "ActivityItem",
        example_id="1747305727120-0",
        example=ITEM_EXAMPLE,
        retry_ms=RETRY_MS,
    ),
    **ERRORS,
}


def _page(request: Request, page: FeedPage) -> Response:
    """The page's JSON; a long one costs more of the rate limit (one request per 256 KiB)."""
    body = page.json_bytes()
    charge(request, size=len(body))
    return Response(body, media_type="application/json")


@router.get("", response_model=ActivityPage, name="list_activity", summary="List activity", responses=ERRORS)
async def list_activity(
    request: Request,
    principal: PrincipalDep,
    service: ActivityServiceDep,
    iterator: Annotated[
        str | None,
        Query(
            pattern=ITERATOR_PATTERN,
            max_length=ITERATOR_MAX_LENGTH,
            description="the `iterator` of the previous page",
        ),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=AFTER_PATTERN,
            max_length=64,
            description="where to start without an iterator: `now`, or an RFC 3339 date-time "
            "(events at or after it); neither: the oldest event kept",
        ),
    ] = None,
    event_type: EventTypes = None,
    package_id: PackageFilter = None,
    limit: Limit = 100,
) -> Response:
    """Every event emitted for the partner (`package.*`, `package.status`, `export.*`),
    oldest first, with the same `id` (`webhook-id`) and body as its webhooks; kept
    `BFF_ACTIVITY_RETENTION_S` (30 days). Follow `iterator` page after page: each event
    comes once, in order, even while events are appended; `done` means caught up (ask again
    later with the same iterator). A page holds at most 1 MiB of events
    (`BFF_ACTIVITY_PAGE_MAX_BYTES`): one cut short is not `done`; each 256 KiB cost one more
    request of the rate limit."""
    filters = Filters(tuple(event_type or ()), package_id or "")
    page = await service.feed(
        principal.partner_id, iterator=iterator, after=after, limit=limit, filters=filters
    )
    return _page(request, page)


@router.get(
    "/stream-link",
    response_model=ActivityStreamLink,
    name="get_activity_stream_link",
    summary="Get the live activity link",
    responses=ERRORS,
)
async def get_activity_stream_link(
    principal: PrincipalDep, service: ActivityServiceDep
) -> ActivityStreamLink:
    """A signed link of the partner's live activity for an `EventSource` (no headers needed),
    valid about an hour: one stream carries every event of the partner, for a list page."""
    return ActivityStreamLink(stream_url=service.stream_url(principal.partner_id))


@router.get(
    "/stream",
    name="stream_activity",
    summary="Stream activity (Server-Sent Events)",
    responses=STREAM_RESPONSES,
    response_class=sse.EventStreamResponse,
    dependencies=[Depends(activity_stream_slot, scope="request")],
)
async def stream_activity(
    principal: LinkPrincipalDep,
    streams: ActivityStreamsDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            pattern=RESUME_PATTERN,
            max_length=LAST_EVENT_ID_MAX_LENGTH,
            description="the `id:` of the last event received: resume after it (empty: from now)",
        ),
    ] = None,
    resume_after: Annotated[
        str | None,
        Query(
            alias="last_event_id",
            pattern=RESUME_PATTERN,
            max_length=LAST_EVENT_ID_MAX_LENGTH,
            description="the same for a new `EventSource` (which cannot send the header), e.g. "
            "on a fresh link after the old one expired; the header wins when both are sent",
        ),
    ] = None,
) -> Response:
    """The partner's events as they are emitted, as Server-Sent Events (`id:` = position,
    `data:` an ActivityItem); heartbeats in between. Open the signed `stream_url` (or send
    the usual headers). A reconnect with `Last-Event-ID` resumes after that event with
    nothing lost (within retention); so does a fresh link opened with `&last_event_id=`.
    Costs no upstream call; open streams are capped like the package streams (429)."""
    position = parse_last_event_id(last_event_id if last_event_id is not None else resume_after)
    updates = streams.updates(principal.partner_id, position, until=principal.expires_at)
    return sse.EventStreamResponse(_frames(updates))


async def _frames(updates: AsyncGenerator[Update, None]) -> AsyncIterator[str]:
    yield sse.retry(RETRY_MS)
    try:
        async with contextlib.aclosing(updates):
            async for update in updates:
                if update is None:
                    yield sse.comment("keep-alive")
                else:
                    yield sse.event(str(update.position), "activity", update.item)
    except REDIS_ERRORS as exc:  # headers are sent: end the stream, EventSource reconnects
        logger.warning("activity stream ended early: %s", exc)


@router.post(
    "/consumers/{consumer}/poll",
    response_model=ActivityPage,
    name="poll_activity_consumer",
    summary="Poll as a named consumer",
    responses={**ERRORS, 409: PROBLEM},
)
async def poll_activity_consumer(
    request: Request,
    consumer: Consumer,
    principal: PrincipalDep,
    service: ActivityServiceDep,
    event_type: EventTypes = None,
    package_id: PackageFilter = None,
    limit: Limit = 100,
) -> Response:
    """The next page for this consumer, whose position the server keeps and moves past the
    page (a new consumer starts at the oldest event kept; `seek` moves it). Events the
    filters leave out are passed too. At most 50 consumers per partner (409)."""
    filters = Filters(tuple(event_type or ()), package_id or "")
    return _page(request, await service.poll(principal.partner_id, consumer, limit=limit, filters=filters))


@router.post(
    "/consumers/{consumer}/seek",
    response_model=ConsumerPosition,
    name="seek_activity_consumer",
    summary="Move a named consumer",
    responses={**ERRORS, 409: PROBLEM},
)
async def seek_activity_consumer(
    consumer: Consumer,
    body: Annotated[ConsumerSeek, Body()],
    principal: PrincipalDep,
    service: ActivityServiceDep,
) -> ConsumerPosition:
    """Set where the consumer's next poll starts: after an `iterator` a page returned
    (to read a page again), or `after` a moment (`now`: only what comes next)."""
    iterator = await service.seek(principal.partner_id, consumer, after=body.after, iterator=body.iterator)
    return ConsumerPosition(consumer=consumer, iterator=iterator)


@router.delete(
    "/consumers/{consumer}",
    status_code=204,
    name="delete_activity_consumer",
    summary="Delete a named consumer",
    responses={**ERRORS, 404: PROBLEM},
)
async def delete_activity_consumer(
    consumer: Consumer, principal: PrincipalDep, service: ActivityServiceDep
) -> Response:
    """Forget the consumer and its position."""
    await service.forget(principal.partner_id, consumer)
    return Response(status_code=204)
