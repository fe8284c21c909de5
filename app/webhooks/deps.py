"""The webhooks domain's FastAPI dependency: its service, built once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import Services, services_of
from app.webhooks.service import WebhookService
from app.webhooks.store import WebhookStore


def make_webhook_service(svc: Services) -> WebhookService:
    return WebhookService(WebhookStore(svc.redis), svc.queue, svc.settings)


async def webhook_service(request: Request) -> WebhookService:
    return services_of(request).shared(make_webhook_service)


WebhookServiceDep = Annotated[WebhookService, Depends(webhook_service)]
