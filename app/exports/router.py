"""``POST /v1/packages/{id}/clusters/{tc}/exports`` and ``GET /v1/exports/{id}``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["exports"])
