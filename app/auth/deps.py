"""Who is calling: the bearer token and the partner header, verified here, and the partner's
rate limit taken once per request.

The ordinary caller's dependencies (``current_principal``, ``call_context``) read the two
headers themselves and have no sub-dependencies: each is one node for FastAPI's solver.
They are marked with ``@authenticates`` so the OpenAPI document declares the ``bearer`` and
``partner`` security schemes on every operation that uses them (``security_requirement``).
Signed-link endpoints keep the schemes as ``Security`` dependencies (their links are an
alternative to both)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar, get_type_hints

from fastapi import Depends, Query, Request, Security, params
from fastapi.encoders import jsonable_encoder
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.auth.tokens import (
    PARTNER_HEADER,
    REQUIRED_PERMISSION,
    Principal,
    TokenVerifier,
    bearer_token,
    partner_of,
    principal_of,
)
from app.kit.deps import LIMITER, LINKS, SETTINGS
from app.kit.errors import ServiceUnavailable, Unauthorized, request_id_of
from app.kit.links import is_well_formed
from app.kit.ratelimit import RATE_LIMIT_HEADERS, extra_cost
from app.kit.state import Provided
from app.upstream import CallContext
from app.upstream.client import service_authorization

TOKENS = Provided[TokenVerifier]("tokens")
ADMITTED = "admitted_principal"  # request state: who the rate limits admitted
NO_SERVICE_TOKEN = (
    "signed links (csv_url, events_url) need BFF_UPSTREAM_SERVICE_TOKEN on the API: a link "
    "carries no bearer token, so the API calls the upstream as the service"
)

BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="The identity provider's token (claims: sub, exp, permissions ∋ backhaul, partners), "
    "verified as RFC8725 (JWT best current practices) asks: the algorithm comes from the key, never "
    "from the token (no `none`, no HS/RS confusion), `iss` and `aud` checked when configured, and a "
    "bounded lifetime.",
    auto_error=False,  # the messages of a missing or malformed header are ours (bearer_token)
)
PARTNER = APIKeyHeader(
    name=PARTNER_HEADER,
    scheme_name="partner",
    description="The partner this request acts for: one of the token's `partners`.",
    auto_error=False,  # checked after the token, so a bad token is a 401 whatever the header
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
PartnerHeader = Annotated[str | None, Security(PARTNER)]

D = TypeVar("D", bound=Callable[..., Any])
_AUTHENTICATING: set[Callable[..., Any]] = set()


def authenticates(dependency: D) -> D:
    """Marks a dependency that authenticates the caller from the token and partner headers:
    the operations that use it are documented with both security schemes."""
    _AUTHENTICATING.add(dependency)
    return dependency


def security_schemes() -> dict[str, Any]:
    """The document's ``securitySchemes``, as FastAPI writes a scheme of a ``Security``."""
    return {
        scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
        for scheme in (BEARER, PARTNER)
    }


def security_requirement(endpoint: Callable[..., Any]) -> dict[str, list[str]] | None:
    """``{bearer: [], partner: []}`` when an endpoint's dependencies (read from the
    ``Annotated[..., Depends(...)]`` of its parameters, and theirs) authenticate the caller."""
    pending, seen = [endpoint], set()
    while pending:
        call = pending.pop()
        if call in _AUTHENTICATING:
            return {BEARER.scheme_name: [], PARTNER.scheme_name: []}
        if id(call) not in seen:
            seen.add(id(call))
            pending.extend(_dependencies_of(call))
    return None


def _dependencies_of(call: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    function = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    for hint in get_type_hints(function, include_extras=True).values():
        for marker in getattr(hint, "__metadata__", ()):
            if isinstance(marker, params.Depends) and marker.dependency is not None:
                yield marker.dependency


async def _admitted(request: Request, principal: Principal) -> Principal:
    """The partner's and the acting subject's rate limits (429 past either); the headers go
    on whatever is answered."""
    limiter = LIMITER.of(request.app)
    headers = await limiter.check(principal.partner_id, principal.sub)
    state = request.scope.setdefault("state", {})
    state[RATE_LIMIT_HEADERS] = headers
    state[ADMITTED] = principal
    return principal


def charge(request: Request, *, rows: int = 0, size: int = 0) -> None:
    """A request that cost more than most (a search's scan, a long page of events) spends
    more of the budgets that admitted it."""
    principal = request.scope.get("state", {}).get(ADMITTED)
    tokens = extra_cost(rows=rows, size=size)
    if isinstance(principal, Principal) and tokens:
        LIMITER.of(request.app).charge(principal.partner_id, principal.sub, tokens)


async def _authenticated(request: Request, partner: str | None) -> Principal:
    token = bearer_token(request.headers.get("authorization"))
    claims = await TOKENS.of(request.app).claims(token)
    return await _admitted(request, principal_of(claims, token, partner))


async def _caller(request: Request) -> Principal:
    """Bearer token + partner header, verified and admitted once per request, whichever
    dependency of the request asks first (so a request is never counted twice)."""
    state = request.scope.setdefault("state", {})
    principal = state.get(ADMITTED)
    if isinstance(principal, Principal):
        return principal
    return await _authenticated(request, request.headers.get(PARTNER_HEADER))


@authenticates
async def current_principal(request: Request) -> Principal:
    """The caller of an ordinary endpoint: bearer token + partner header. The token is read
    by ``bearer_token``, whose 401s say what is wrong with the header."""
    return await _caller(request)


async def link_principal(
    request: Request,
    _bearer: Credentials,
    partner: PartnerHeader,
    partner_id: Annotated[str | None, Query(description="signed links only", max_length=128)] = None,
    exp: Annotated[str | None, Query(description="signed links only", max_length=16)] = None,
    sig: Annotated[str | None, Query(description="signed links only", max_length=128)] = None,
) -> Principal:
    """The caller of a resource a browser opens without headers (``csv_url``,
    ``events_url``): a signed link, or the usual headers. A link acts for its partner
    with the service token upstream; tokens in query strings are refused."""
    if "access_token" in request.query_params:
        raise Unauthorized(
            "tokens are not accepted in query strings; use the signed link the API returned "
            "(events_url, csv_url) or the Authorization header"
        )
    if partner_id is None and exp is None and sig is None:
        return await _authenticated(request, partner)
    if not is_well_formed(partner_id, exp, sig):  # a partial or reshaped link is no link
        raise Unauthorized("the link is malformed; ask for a fresh one")
    assert partner_id is not None and exp is not None and sig is not None
    linked = partner_of(partner_id)
    method = "GET" if request.method == "HEAD" else request.method  # a HEAD asks about the same GET
    expires_at = LINKS.of(request.app).verify(method, request.scope["path"], linked, exp, sig)
    service_token = SETTINGS.of(request.app).upstream_service_token
    if service_token is None:
        raise ServiceUnavailable(NO_SERVICE_TOKEN)
    principal = Principal(
        sub=f"link:{linked}",
        partner_id=linked,
        permissions=(REQUIRED_PERMISSION,),
        authorization=service_authorization(service_token),
        expires_at=expires_at,
    )
    return await _admitted(request, principal)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
LinkPrincipalDep = Annotated[Principal, Depends(link_principal)]


def _context(request: Request, principal: Principal) -> CallContext:
    """Headers relayed upstream for this request: the caller's own token and partner, the
    request id and the trace context."""
    traceparent = str(request.scope.get("state", {}).get("traceparent", ""))
    return CallContext(principal.authorization, principal.partner_id, request_id_of(request), traceparent)


@authenticates
async def call_context(request: Request) -> CallContext:
    return _context(request, await _caller(request))


async def link_call_context(request: Request, principal: LinkPrincipalDep) -> CallContext:
    return _context(request, principal)


CallContextDep = Annotated[CallContext, Depends(call_context)]
LinkCallContextDep = Annotated[CallContext, Depends(link_call_context)]
