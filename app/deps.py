"""FastAPI dependencies: settings, Redis, the upstream client, the queue, the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, Header, Query, Request
from redis.asyncio import Redis

from app.auth import PARTNER_HEADER, Principal, authenticate, bearer_token
from app.errors import request_id_of
from app.settings import Settings
from app.upstream import CallContext, PackageBuilderClient


@dataclass
class Services:
    """Long-lived clients of one API process, created in lifespan, closed after it."""

    settings: Settings
    redis: Redis
    upstream: PackageBuilderClient
    queue: ArqRedis


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


def get_settings(svc: ServicesDep) -> Settings:
    return svc.settings


def get_redis(svc: ServicesDep) -> Redis:
    return svc.redis


def get_upstream(svc: ServicesDep) -> PackageBuilderClient:
    return svc.upstream


def get_queue(svc: ServicesDep) -> ArqRedis:
    return svc.queue


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
UpstreamDep = Annotated[PackageBuilderClient, Depends(get_upstream)]
QueueDep = Annotated[ArqRedis, Depends(get_queue)]


def current_principal(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    partner_id: Annotated[str | None, Header(alias=PARTNER_HEADER)] = None,
) -> Principal:
    """The caller of an ordinary endpoint: bearer header + partner header."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    return authenticate(bearer_token(authorization), partner_id, secret)


def stream_principal(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    partner_header: Annotated[str | None, Header(alias=PARTNER_HEADER)] = None,
    access_token: Annotated[
        str | None, Query(description="for EventSource, which cannot send headers")
    ] = None,  # noqa: E501
    partner_id: Annotated[str | None, Query(description="for EventSource")] = None,
) -> Principal:
    """Like ``current_principal`` but also takes ``access_token``/``partner_id`` query params."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    token = bearer_token(authorization) if authorization else (access_token or "")
    if not token:
        bearer_token(None)
    return authenticate(token, partner_header or partner_id, secret)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
StreamPrincipalDep = Annotated[Principal, Depends(stream_principal)]


def call_context(request: Request, principal: PrincipalDep) -> CallContext:
    """Headers relayed upstream for this request: the caller's own token and partner."""
    return CallContext(principal.authorization, principal.partner_id, request_id_of(request))


CallContextDep = Annotated[CallContext, Depends(call_context)]
