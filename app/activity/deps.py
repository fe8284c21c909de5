"""The activity domain's FastAPI dependencies: its log, feed service and live streams (one
each per process, built by the API), and the open-stream slot a live stream holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends

from app.activity.log import ActivityLog
from app.activity.service import ActivityService
from app.activity.stream import ActivityStreams
from app.auth.deps import LinkPrincipalDep
from app.kit.state import Provided

ACTIVITY_LOG = Provided[ActivityLog]("activity_log")
ACTIVITY = Provided[ActivityService]("activity_service")
ACTIVITY_STREAMS = Provided[ActivityStreams]("activity_streams")
ActivityServiceDep = Annotated[ActivityService, Depends(ACTIVITY)]
ActivityStreamsDep = Annotated[ActivityStreams, Depends(ACTIVITY_STREAMS)]


async def activity_stream_slot(
    principal: LinkPrincipalDep, streams: ActivityStreamsDep
) -> AsyncIterator[None]:
    """One of the partner's open-stream slots (the same caps as the package streams), taken
    before the endpoint runs and released once the response is over (see
    ``app.live.deps.stream_slot``)."""
    with streams.slot(principal.partner_id, principal.sub):
        yield
