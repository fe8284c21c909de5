"""``/v1/drafts``: the create wizard's state, with ETag/If-Match."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/drafts", tags=["drafts"])
