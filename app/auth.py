"""Bearer JWT (HS256) → Principal, and the 401/403/400 matrix of DESIGN.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jwt

from app.errors import BadRequest, Forbidden, Unauthorized

REQUIRED_PERMISSION = "backhaul"
PARTNER_HEADER = "X-Preferred-Partner-Id"
MAX_PARTNER_ID_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, acting for one partner; ``token`` is relayed upstream as it came."""

    sub: str
    partner_id: str
    permissions: tuple[str, ...]
    token: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token}"


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, or 401."""
    if not authorization:
        raise Unauthorized("missing Authorization header (expected 'Bearer <JWT>')")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <JWT>'")
    return token.strip()


def decode_token(token: str, secret: str | None) -> dict[str, object]:
    """Verify signature, algorithm (HS256 only: ``alg: none`` is refused) and expiry."""
    if not secret:
        raise Unauthorized("this server has no BFF_JWT_SECRET configured; no token is valid")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    if not isinstance(claims, dict):
        raise Unauthorized("invalid token: claims are not an object")
    return claims


def _string_list(claims: dict[str, object], name: str) -> list[str]:
    value = claims.get(name, [])
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise Unauthorized(f"invalid token: claim '{name}' must be a list")
    return [str(item) for item in value]


def authenticate(token: str, partner_id: str | None, secret: str | None) -> Principal:
    """The whole matrix: bad token 401, missing partner 400, not allowed 403."""
    claims = decode_token(token, secret)
    permissions = _string_list(claims, "permissions")
    partners = _string_list(claims, "partners")
    partner = (partner_id or "").strip()
    if not partner:
        raise BadRequest(f"missing {PARTNER_HEADER} header")
    if len(partner) > MAX_PARTNER_ID_LENGTH or not partner.isprintable():
        raise BadRequest(f"{PARTNER_HEADER} is not a valid partner id")
    if REQUIRED_PERMISSION not in permissions:
        raise Forbidden(f"the token lacks the '{REQUIRED_PERMISSION}' permission")
    if "*" not in partners and partner not in partners:
        raise Forbidden(f"the token may not act for partner {partner!r}")
    return Principal(sub=str(claims["sub"]), partner_id=partner, permissions=tuple(permissions), token=token)


def issue_token(
    secret: str,
    *,
    sub: str,
    partners: Sequence[str],
    permissions: Sequence[str] = (REQUIRED_PERMISSION,),
    ttl_s: int = 12 * 3600,
) -> str:
    """A signed token for dev and tests (``python -m app token``)."""
    import time

    now = int(time.time())
    claims = {
        "sub": sub,
        "iat": now,
        "exp": now + ttl_s,
        "permissions": list(permissions),
        "partners": list(partners),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
