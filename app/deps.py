"""FastAPI dependencies shared by every domain: the process's clients and the caller.

All are ``async def``: a plain ``def`` dependency runs in the thread pool, one hop per
request each. Domain services are built in each domain's own ``deps.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from arq.connections import ArqRedis
from fastapi import Depends, Header, Query, Request
from redis.asyncio import Redis

from app.auth import PARTNER_HEADER, Principal, authenticate, bearer_token
from app.errors import request_id_of
from app.pubsub import ChannelHub
from app.settings import Settings
from app.upstream import CallContext, PackageBuilderClient

T = TypeVar("T")


@dataclass
class Services:
    """Long-lived clients of one API process, created in lifespan, closed after it."""

    settings: Settings
    redis: Redis
    upstream: PackageBuilderClient
    queue: ArqRedis
    hub: ChannelHub  # one pub/sub connection for every SSE stream of the process
    _shared: dict[Callable[..., Any], Any] = field(default_factory=dict, repr=False)

    def shared(self, make: Callable[[Services], T]) -> T:
        """One instance per process of what ``make`` builds from these clients: domain
        services hold no per-request state, so they (and their Lua scripts) are built once."""
        made: T
        try:
            made = self._shared[make]
        except KeyError:
            made = self._shared[make] = make(self)
        return made


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


async def get_settings(svc: ServicesDep) -> Settings:
    return svc.settings


async def get_redis(svc: ServicesDep) -> Redis:
    return svc.redis


async def get_upstream(svc: ServicesDep) -> PackageBuilderClient:
    return svc.upstream


async def get_queue(svc: ServicesDep) -> ArqRedis:
    return svc.queue


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
UpstreamDep = Annotated[PackageBuilderClient, Depends(get_upstream)]
QueueDep = Annotated[ArqRedis, Depends(get_queue)]


async def current_principal(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    partner_id: Annotated[str | None, Header(alias=PARTNER_HEADER)] = None,
) -> Principal:
    """The caller of an ordinary endpoint: bearer header + partner header."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    return authenticate(bearer_token(authorization), partner_id, secret)


async def stream_principal(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    partner_header: Annotated[str | None, Header(alias=PARTNER_HEADER)] = None,
    access_token: Annotated[
        str | None, Query(description="for EventSource, which cannot send headers")
    ] = None,
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


async def call_context(request: Request, principal: PrincipalDep) -> CallContext:
    """Headers relayed upstream for this request: the caller's own token and partner."""
    return CallContext(principal.authorization, principal.partner_id, request_id_of(request))


CallContextDep = Annotated[CallContext, Depends(call_context)]
