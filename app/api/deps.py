"""FastAPI dependencies shared by every domain: the process's clients and the caller.

All are ``async def``: a plain ``def`` dependency runs in the thread pool, one hop per
request each. The tree is flat: each dependency takes the request and nothing else that
needs solving (each sub-dependency costs FastAPI some 30–40 µs a request), so the caller
is remembered in the request's state rather than handed down. Domain services are built in
each domain's own ``deps.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from arq.connections import ArqRedis
from fastapi import Depends, Query, Request
from redis.asyncio import Redis

from app.api.middleware import RATE_LIMIT_HEADERS
from app.auth.tokens import (
    PARTNER_HEADER,
    REQUIRED_PERMISSION,
    Principal,
    TokenVerifier,
    bearer_token,
    partner_of,
    principal_of,
)
from app.kit.errors import Unauthorized, request_id_of
from app.kit.links import LinkSigner, is_well_formed
from app.kit.pubsub import ChannelHub
from app.kit.ratelimit import RateLimiter
from app.kit.settings import Settings
from app.upstream import CallContext, PackageBuilderClient
from app.upstream.client import service_authorization

T = TypeVar("T")


@dataclass
class Services:
    """Long-lived clients of one API process, created in lifespan, closed after it."""

    settings: Settings
    redis: Redis
    upstream: PackageBuilderClient
    queue: ArqRedis
    hub: ChannelHub  # one pub/sub connection for every SSE stream of the process
    tokens: TokenVerifier
    links: LinkSigner
    limiter: RateLimiter
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


def services_of(request: Request) -> Services:
    """The process's services (a plain function: domain dependencies call it directly)."""
    svc: Services = request.app.state.services
    return svc


async def services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(services)]


async def get_settings(request: Request) -> Settings:
    return services_of(request).settings


async def get_redis(request: Request) -> Redis:
    return services_of(request).redis


async def get_upstream(request: Request) -> PackageBuilderClient:
    return services_of(request).upstream


async def get_queue(request: Request) -> ArqRedis:
    return services_of(request).queue


async def get_links(request: Request) -> LinkSigner:
    return services_of(request).links


SettingsDep = Annotated[Settings, Depends(get_settings)]
LinksDep = Annotated[LinkSigner, Depends(get_links)]
RedisDep = Annotated[Redis, Depends(get_redis)]
UpstreamDep = Annotated[PackageBuilderClient, Depends(get_upstream)]
QueueDep = Annotated[ArqRedis, Depends(get_queue)]


PRINCIPAL = "principal"  # request state: the caller, once known


async def _admitted(request: Request, svc: Services, principal: Principal) -> Principal:
    """The partner's rate limit (429 past it); its headers go on whatever is answered. The
    caller is remembered, so one request takes one token however many dependencies ask."""
    state = request.scope.setdefault("state", {})
    state[RATE_LIMIT_HEADERS] = await svc.limiter.check(principal.partner_id)
    state[PRINCIPAL] = principal
    return principal


# The OpenAPI security schemes the identity dependencies implement (declared on each operation
# by app.main: as FastAPI security dependencies they would cost two more dependencies a
# request). Token and partner are needed together.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearer": {
        "type": "http",
        "description": "The identity provider's token (claims: sub, exp, permissions ∋ backhaul, partners).",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    },
    "partner": {
        "type": "apiKey",
        "description": "The partner this request acts for: one of the token's `partners`.",
        "in": "header",
        "name": PARTNER_HEADER,
    },
}


async def current_principal(request: Request) -> Principal:
    """The caller of an ordinary endpoint: bearer header + partner header."""
    known: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
    if known is not None:
        return known
    svc = services_of(request)
    token = bearer_token(request.headers.get("authorization"))
    principal = principal_of(await svc.tokens.claims(token), token, request.headers.get(PARTNER_HEADER))
    return await _admitted(request, svc, principal)


async def link_principal(
    request: Request,
    partner_id: Annotated[str | None, Query(description="signed links only", max_length=128)] = None,
    exp: Annotated[str | None, Query(description="signed links only", max_length=16)] = None,
    sig: Annotated[str | None, Query(description="signed links only", max_length=128)] = None,
) -> Principal:
    """The caller of a resource a browser opens without headers (``csv_url``,
    ``events_url``): a signed link, or the usual headers. A link acts for its partner
    with the worker's service token upstream; tokens in query strings are refused."""
    if "access_token" in request.query_params:
        raise Unauthorized(
            "tokens are not accepted in query strings; use the signed link the API returned "
            "(events_url, csv_url) or the Authorization header"
        )
    if partner_id is None and exp is None and sig is None:
        return await current_principal(request)
    if not is_well_formed(partner_id, exp, sig):  # a partial or reshaped link is no link
        raise Unauthorized("the link is malformed; ask for a fresh one")
    assert partner_id is not None and exp is not None and sig is not None
    svc = services_of(request)
    partner = partner_of(partner_id)
    method = "GET" if request.method == "HEAD" else request.method  # a HEAD asks about the same GET
    expires_at = svc.links.verify(method, request.scope["path"], partner, exp, sig)
    principal = Principal(
        sub=f"link:{partner}",
        partner_id=partner,
        permissions=(REQUIRED_PERMISSION,),
        authorization=service_authorization(svc.settings.upstream_service_token),
        expires_at=expires_at,
    )
    return await _admitted(request, svc, principal)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
LinkPrincipalDep = Annotated[Principal, Depends(link_principal)]


def _context(request: Request, principal: Principal) -> CallContext:
    """Headers relayed upstream for this request: the caller's own token and partner, the
    request id and the trace context."""
    traceparent = str(request.scope.get("state", {}).get("traceparent", ""))
    return CallContext(principal.authorization, principal.partner_id, request_id_of(request), traceparent)


async def call_context(request: Request) -> CallContext:
    return _context(request, await current_principal(request))


async def link_call_context(request: Request, principal: LinkPrincipalDep) -> CallContext:
    return _context(request, principal)


IDENTITY_DEPENDENCIES = frozenset({current_principal, link_principal, call_context, link_call_context})
CallContextDep = Annotated[CallContext, Depends(call_context)]
LinkCallContextDep = Annotated[CallContext, Depends(link_call_context)]
