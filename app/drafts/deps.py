"""The drafts domain's FastAPI dependency: the caller's drafts (partner + token ``sub``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import PrincipalDep, services_of
from app.drafts.service import DraftService
from app.drafts.store import DraftStore
from app.idempotency import make_idempotency_service
from app.kit.errors import PayloadTooLarge
from app.packages.deps import make_package_service


async def draft_service(request: Request, principal: PrincipalDep) -> DraftService:
    """Per request (the store is scoped to the caller); bodies past the size bound stop here."""
    svc = services_of(request)
    settings = svc.settings
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.draft_max_bytes:
        raise PayloadTooLarge(f"a draft may hold at most {settings.draft_max_bytes} bytes")
    return DraftService(
        DraftStore(svc.redis, principal.partner_id, principal.sub, settings.draft_ttl_s),
        svc.shared(make_package_service),
        svc.shared(make_idempotency_service),
        ttl_s=settings.draft_ttl_s,
        max_bytes=settings.draft_max_bytes,
        max_drafts=settings.max_drafts_per_user,
    )


DraftServiceDep = Annotated[DraftService, Depends(draft_service)]
