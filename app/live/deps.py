"""The live domain's FastAPI dependencies: its service (one per process, built by the API),
and the open-stream slot a stream holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends

from app.auth.deps import LinkPrincipalDep
from app.kit.state import Provided
from app.live.service import LiveService

LIVE = Provided[LiveService]("live_service")
LiveServiceDep = Annotated[LiveService, Depends(LIVE)]


async def stream_slot(principal: LinkPrincipalDep, service: LiveServiceDep) -> AsyncIterator[None]:
    """Taken before the endpoint runs (so a refusal costs no upstream call and no
    subscription), released once the response is over. FastAPI finishes a dependency with
    ``yield`` of scope ``"request"`` after the response has been sent, a streamed one
    included, and throws whatever ended it into this generator: the ``with`` releases the
    slot exactly once whether the stream ended, failed, was cancelled or was never opened
    (an error, a 204)."""
    with service.slot(principal.partner_id, principal.sub):
        yield
