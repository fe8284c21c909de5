"""The webhooks domain's FastAPI dependency: its service (one per process, built by the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.kit.state import Provided
from app.webhooks.service import WebhookService

WEBHOOKS = Provided[WebhookService]("webhook_service")
WebhookServiceDep = Annotated[WebhookService, Depends(WEBHOOKS)]
