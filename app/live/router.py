"""``GET /v1/packages/{id}/events``: Server-Sent Events of status changes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/packages", tags=["packages"])
