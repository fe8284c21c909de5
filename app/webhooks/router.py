"""``/v1/webhooks``: endpoint registry, deliveries, redelivery, test events."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
