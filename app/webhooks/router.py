"""``/v1/webhooks``: endpoint registry, deliveries, redelivery, test events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.auth.deps import PrincipalDep
from app.idempotency import Answer, IdempotencyDep
from app.kit.errors import CLIENT_ERRORS, PROBLEM
from app.kit.http_docs import documented
from app.kit.types import Cursor
from app.webhooks.deps import WebhookServiceDep
from app.webhooks.schemas import (
    DeliveryAccepted,
    DeliveryPage,
    Endpoint,
    EndpointCreate,
    EndpointList,
    EndpointUpdate,
    EndpointWithSecret,
    RecoverAccepted,
    RecoverRequest,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

ERRORS = CLIENT_ERRORS
EndpointId = Annotated[str, Path(max_length=64, description="webhook endpoint id (ep_…)")]
DeliveryId = Annotated[str, Path(max_length=64, description="delivery id (dlv_…)")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointWithSecret,
    name="create_webhook",
    summary="Register a webhook endpoint",
    responses={**ERRORS, 201: documented("Location"), 409: PROBLEM},
)
async def create_webhook(
    body: EndpointCreate, principal: PrincipalDep, service: WebhookServiceDep, idempotency: IdempotencyDep
) -> EndpointWithSecret | Response:
    """Register an endpoint. The answer carries its signing secret, shown this once.
    Honours `Idempotency-Key`: a retried registration makes no second endpoint."""

    async def perform() -> Answer[EndpointWithSecret]:
        endpoint = await service.create(principal.partner_id, body)
        return Answer(endpoint, {"Location": f"/v1/webhooks/{endpoint.id}"})

    return await idempotency.respond("webhook-create", body, perform)


@router.get(
    "", response_model=EndpointList, name="list_webhooks", summary="List webhook endpoints", responses=ERRORS
)
async def list_webhooks(principal: PrincipalDep, service: WebhookServiceDep) -> EndpointList:
    """The partner's endpoints, oldest first (without secrets)."""
    return await service.list(principal.partner_id)


@router.get(
    "/{endpoint_id}",
    response_model=Endpoint,
    name="get_webhook",
    summary="Get a webhook endpoint",
    responses=ERRORS,
)
async def get_webhook(
    endpoint_id: EndpointId, principal: PrincipalDep, service: WebhookServiceDep
) -> Endpoint:
    """One endpoint (without its secret)."""
    return await service.get(principal.partner_id, endpoint_id)


@router.patch(
    "/{endpoint_id}",
    response_model=Endpoint,
    name="update_webhook",
    summary="Change a webhook endpoint",
    responses=ERRORS,
)
async def update_webhook(
    endpoint_id: EndpointId, body: EndpointUpdate, principal: PrincipalDep, service: WebhookServiceDep
) -> Endpoint:
    """Change url, event types, description; ``enabled: true`` re-enables a disabled endpoint."""
    return await service.update(principal.partner_id, endpoint_id, body)


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="delete_webhook",
    summary="Remove a webhook endpoint",
    responses=ERRORS,
)
async def delete_webhook(
    endpoint_id: EndpointId, principal: PrincipalDep, service: WebhookServiceDep
) -> None:
    """Remove an endpoint; its pending deliveries are dropped."""
    await service.delete(principal.partner_id, endpoint_id)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    name="rotate_webhook_secret",
    summary="Rotate a webhook endpoint's secret",
    responses=ERRORS,
)
async def rotate_webhook_secret(
    endpoint_id: EndpointId, principal: PrincipalDep, service: WebhookServiceDep, idempotency: IdempotencyDep
) -> EndpointWithSecret | Response:
    """A new secret; for 24 h deliveries carry signatures by both the old and the new one.
    Honours `Idempotency-Key` (a retry gets the same new secret, not a third one)."""

    async def perform() -> Answer[EndpointWithSecret]:
        return Answer(await service.rotate_secret(principal.partner_id, endpoint_id))

    return await idempotency.respond("webhook-rotate", None, perform)


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryAccepted,
    name="send_test_webhook",
    summary="Send a test event",
    responses={**ERRORS, 409: PROBLEM},
)
async def send_test_webhook(
    endpoint_id: EndpointId, principal: PrincipalDep, service: WebhookServiceDep, idempotency: IdempotencyDep
) -> DeliveryAccepted | Response:
    """Send a ``webhook.test`` event now; follow it in the delivery log. Limited per
    endpoint and hour (429 past it). Honours `Idempotency-Key`."""

    async def perform() -> Answer[DeliveryAccepted]:
        return Answer(await service.send_test(principal.partner_id, endpoint_id))

    return await idempotency.respond("webhook-test", None, perform)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    name="list_webhook_deliveries",
    summary="List deliveries",
    responses=ERRORS,
)
async def list_webhook_deliveries(
    endpoint_id: EndpointId,
    principal: PrincipalDep,
    service: WebhookServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> DeliveryPage:
    """Deliveries, newest first, each with every attempt (time, status, latency, error)."""
    return await service.deliveries(principal.partner_id, endpoint_id, cursor=cursor, limit=limit)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryAccepted,
    name="redeliver_webhook",
    summary="Redeliver a delivery",
    responses={**ERRORS, 409: PROBLEM},
)
async def redeliver_webhook(
    endpoint_id: EndpointId,
    delivery_id: DeliveryId,
    principal: PrincipalDep,
    service: WebhookServiceDep,
    idempotency: IdempotencyDep,
) -> DeliveryAccepted | Response:
    """Send a delivery again: the same body and the same ``webhook-id``. Honours
    `Idempotency-Key`."""

    async def perform() -> Answer[DeliveryAccepted]:
        return Answer(await service.redeliver(principal.partner_id, endpoint_id, delivery_id))

    return await idempotency.respond("webhook-redeliver", None, perform)


@router.post(
    "/{endpoint_id}/recover",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RecoverAccepted,
    name="recover_webhook_deliveries",
    summary="Re-send failed deliveries",
    responses={**ERRORS, 409: PROBLEM},
)
async def recover_webhook_deliveries(
    endpoint_id: EndpointId,
    body: RecoverRequest,
    principal: PrincipalDep,
    service: WebhookServiceDep,
    idempotency: IdempotencyDep,
) -> RecoverAccepted | Response:
    """Re-send every delivery of the window (`since`, `until`) that failed for good: after an
    outage at the receiver. Each keeps its `webhook-id`; honours `Idempotency-Key`."""

    async def perform() -> Answer[RecoverAccepted]:
        return Answer(await service.recover(principal.partner_id, endpoint_id, body))

    return await idempotency.respond("webhook-recover", body, perform)
