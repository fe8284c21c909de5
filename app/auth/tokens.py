"""Bearer JWT → Principal, and the 401/403/400 matrix of the contract (docs/contract.md).

Production tokens come from the identity provider: RS256/ES256, verified with the key of
their ``kid`` from ``BFF_JWT_JWKS_URL``. HS256 with ``BFF_JWT_SECRET`` serves dev and tests.
The algorithm decides the key, never the other way round: an HS256 token is only ever
checked against the shared secret, so a token "signed" with the public key is refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from app.kit.errors import BadRequest, Forbidden, Unauthorized
from app.kit.settings import Settings

logger = logging.getLogger("app.auth")

REQUIRED_PERMISSION = "backhaul"
PARTNER_HEADER = "X-Preferred-Partner-Id"
ALL_PARTNERS = "*"
MAX_PARTNER_ID_LENGTH = 128
MAX_TOKEN_LENGTH = 8192
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256"})
TOKEN_CACHE_SIZE = 10_000
JWKS_MAX_BYTES = 256 * 1024
JWKS_MAX_KEYS = 64
JWKS_REFRESH_S = 600.0  # keys are re-read this often anyway
STALE_HS256 = (
    "invalid token: it was signed with another secret than this API's BFF_JWT_SECRET;"
    " mint a new one with `python -m app token --partner <partner id>`"
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, acting for one partner. ``authorization`` is relayed upstream as it
    came (or, for a signed link, is the worker's service token acting for the partner)."""

    sub: str
    partner_id: str
    permissions: tuple[str, ...]
    authorization: str
    expires_at: float  # the token's (or link's) ``exp``: a stream ends then


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, or 401 saying what is wrong."""
    if not authorization:
        raise Unauthorized("missing Authorization header (expected 'Bearer <JWT>')")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization header must be 'Bearer <JWT>'")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise Unauthorized("invalid token")
    return token


def partner_of(value: str | None) -> str:
    """The ``X-Preferred-Partner-Id`` header: required, printable ASCII, bounded."""
    partner = (value or "").strip()
    if not partner:
        raise BadRequest(f"missing {PARTNER_HEADER} header")
    if len(partner) > MAX_PARTNER_ID_LENGTH or not (partner.isascii() and partner.isprintable()):
        raise BadRequest(f"{PARTNER_HEADER} must be 1-{MAX_PARTNER_ID_LENGTH} printable ASCII characters")
    return partner


class JwksCache:
    """The identity provider's signing keys by ``kid``: refreshed every ``JWKS_REFRESH_S``,
    refetched on an unknown ``kid`` at most every ``min_refetch_s`` (tokens with made-up
    kids cannot make us hammer the IdP), size-bounded."""

    def __init__(self, url: str, http: httpx.AsyncClient, *, min_refetch_s: float = 30.0) -> None:
        self._url = url
        self._min_refetch_s = min_refetch_s
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if self._due(kid):
            async with self._lock:  # one fetch for a crowd of requests
                if self._due(kid):
                    await self._fetch()
        return self._keys.get(kid)

    def _due(self, kid: str) -> bool:
        age = time.monotonic() - self._fetched_at
        return age > JWKS_REFRESH_S or (kid not in self._keys and age >= self._min_refetch_s)

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()  # a failing IdP is asked again only later
        try:
            response = await self._http.get(self._url)
            response.raise_for_status()
            if len(response.content) > JWKS_MAX_BYTES:
                raise ValueError("JWKS document too large")
            document = json.loads(response.content)
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", [])[:JWKS_MAX_KEYS]:
                if isinstance(entry, Mapping) and isinstance(entry.get("kid"), str):
                    try:
                        keys[entry["kid"]] = jwt.PyJWK(dict(entry))
                    except jwt.PyJWKError as exc:  # one unusable key does not hide the others
                        logger.warning("JWKS key %r skipped: %s", entry.get("kid"), exc)
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            logger.warning("could not refresh the JWKS from %s: %s", self._url, exc)
            return
        self._keys = keys


class TokenVerifier:
    """Verifies bearer tokens and remembers the verified ones (bounded LRU keyed by the
    token; ``exp`` is checked again on every hit), so a hot path decodes each token once."""

    def __init__(
        self,
        *,
        secret: str | None,
        jwks: JwksCache | None,
        issuer: str | None,
        audience: str | None,
        max_lifetime_s: float = 86_400.0,
    ) -> None:
        self._max_lifetime_s = max_lifetime_s
        self._secret = secret
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def claims(self, token: str) -> dict[str, Any]:
        cached = self._verified.get(token)
        if cached is not None:
            if cached["exp"] > time.time():
                self._verified.move_to_end(token)
                return cached
            del self._verified[token]
            raise Unauthorized("the token has expired")
        claims = await self._decode(token)
        self._verified[token] = claims
        if len(self._verified) > TOKEN_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256":
            if not self._secret:
                raise Unauthorized("HS256 tokens are not accepted here (no BFF_JWT_SECRET)")
            key = self._secret
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            if self._jwks is None:
                raise Unauthorized(f"{algorithm} tokens are not accepted here (no BFF_JWT_JWKS_URL)")
            kid = header.get("kid")
            jwk = await self._jwks.key(kid) if isinstance(kid, str) else None
            if jwk is None:
                raise Unauthorized("invalid token: unknown signing key (kid)")
            if jwk.key_type != _KEY_TYPE[algorithm]:
                raise Unauthorized("invalid token: the key does not match the algorithm")
            key = jwk.key
        else:
            raise Unauthorized(f"invalid token: algorithm {algorithm!r} is not accepted")
        required = ["exp", "sub", *(["iss"] if self._issuer else []), *(["aud"] if self._audience else [])]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer or None,
                audience=self._audience or None,
                options={"require": required, "verify_aud": bool(self._audience)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidSignatureError:
            if algorithm == "HS256":
                raise Unauthorized(STALE_HS256) from None
            raise Unauthorized("invalid token: Signature verification failed") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int | float):
            raise Unauthorized("invalid token: claims are not an object with a numeric exp")
        self._check_lifetime(claims)
        return claims

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        """A token that lives longer than ``BFF_JWT_MAX_LIFETIME_S`` (from ``iat`` when it has
        one, else from now) is refused: a leaked one must not work for years."""
        issued = claims.get("iat")
        start = issued if isinstance(issued, int | float) and not isinstance(issued, bool) else time.time()
        if claims["exp"] - min(start, time.time()) > self._max_lifetime_s:
            raise Unauthorized(
                f"invalid token: it lives longer than {self._max_lifetime_s:.0f} s (BFF_JWT_MAX_LIFETIME_S)"
            )


_KEY_TYPE = {"RS256": "RSA", "ES256": "EC"}


def _string_list(claims: Mapping[str, object], name: str) -> list[str]:
    value = claims.get(name, [])
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise Unauthorized(f"invalid token: claim '{name}' must be a list")
    if not all(isinstance(item, str) for item in value):  # [null] must not become "None"
        raise Unauthorized(f"invalid token: claim '{name}' must be a list of strings")
    return list(value)


def may_act_for(partners: Sequence[str], partner: str) -> bool:
    """``["*"]`` alone (internal services) grants every partner; ``*`` beside other ids
    grants nothing beyond those ids."""
    if list(partners) == [ALL_PARTNERS]:
        return True
    return partner != ALL_PARTNERS and partner in partners


def principal_of(claims: Mapping[str, Any], token: str, partner_header: str | None) -> Principal:
    """The rest of the matrix once the token is valid: missing partner 400, not allowed 403."""
    permissions = _string_list(claims, "permissions")
    partners = _string_list(claims, "partners")
    partner = partner_of(partner_header)
    if REQUIRED_PERMISSION not in permissions:
        raise Forbidden(f"the token lacks the '{REQUIRED_PERMISSION}' permission")
    if not may_act_for(partners, partner):
        raise Forbidden(f"the token may not act for partner {partner!r}")
    return Principal(
        sub=str(claims["sub"]),
        partner_id=partner,
        permissions=tuple(permissions),
        authorization=f"Bearer {token}",
        expires_at=float(claims["exp"]),
    )


def issue_token(
    secret: str,
    *,
    sub: str,
    partners: Sequence[str],
    permissions: Sequence[str] = (REQUIRED_PERMISSION,),
    ttl_s: int = 12 * 3600,
) -> str:
    """A signed HS256 token for dev and tests (``python -m app token``)."""
    now = int(time.time())
    claims = {
        "sub": sub,
        "iat": now,
        "exp": now + ttl_s,
        "permissions": list(permissions),
        "partners": list(partners),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def make_token_verifier(settings: Settings, http: httpx.AsyncClient) -> TokenVerifier:
    """HS256 with ``BFF_JWT_SECRET`` and/or RS256/ES256 from ``BFF_JWT_JWKS_URL``."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    jwks = (
        JwksCache(str(settings.jwt_jwks_url), http, min_refetch_s=settings.jwt_jwks_min_refetch_s)
        if settings.jwt_jwks_url
        else None
    )
    return TokenVerifier(
        secret=secret,
        jwks=jwks,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        max_lifetime_s=settings.jwt_max_lifetime_s,
    )
