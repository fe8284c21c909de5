"""The drafts domain's FastAPI dependency: the caller's drafts (partner + token ``sub``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from app.auth.deps import PrincipalDep
from app.drafts.service import DraftService
from app.drafts.store import DraftStore
from app.idempotency import IdempotencyServiceDep
from app.kit.deps import RedisDep, SettingsDep
from app.kit.errors import PayloadTooLarge
from app.packages.deps import PackageServiceDep


async def draft_service(
    principal: PrincipalDep,
    redis: RedisDep,
    settings: SettingsDep,
    packages: PackageServiceDep,
    idempotency: IdempotencyServiceDep,
    content_length: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> DraftService:
    """Per request (the store is scoped to the caller); bodies past the size bound stop here."""
    length = content_length or ""
    if length.isdigit() and int(length) > settings.draft_max_bytes:
        raise PayloadTooLarge(f"a draft may hold at most {settings.draft_max_bytes} bytes")
    return DraftService(
        DraftStore(redis, principal.partner_id, principal.sub, settings.draft_ttl_s),
        packages,
        idempotency,
        ttl_s=settings.draft_ttl_s,
        max_bytes=settings.draft_max_bytes,
        max_drafts=settings.max_drafts_per_user,
    )


DraftServiceDep = Annotated[DraftService, Depends(draft_service)]
