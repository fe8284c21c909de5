"""Identity as an identity provider issues it: RS256/ES256 tokens checked against a real
JWKS endpoint (a local HTTP server with generated keys), ``iss``/``aud`` enforced, no
algorithm confusion, ``*`` only alone, and the partner header parsed before use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.auth.tokens import JwksCache
from tests.conftest import make_token
from tests.support.processes import ApiServer, free_port

ISSUER = "https://idp.example/"
AUDIENCE = "package-builder-bff"


class Jwks:
    """A JWKS endpoint on 127.0.0.1 whose key set a test can change; counts its fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps({"keys": list(jwks.keys.values())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, kid: str, key: Any, algorithm: str) -> None:
        public = key.public_key()
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(public))
        self.keys[kid] = {**jwk, "kid": kid, "use": "sig", "alg": algorithm}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def idp_token(key: Any, kid: str, *, algorithm: str = "RS256", partners: list[str], **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "spa-user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "permissions": ["backhaul"],
        "partners": partners,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hs256_signed_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """An HS256 token made by hand (PyJWT refuses a PEM key as an HMAC secret, rightly)."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    server = Jwks()
    server.add("rsa-1", RSA_KEY, "RS256")
    server.add("ec-1", EC_KEY, "ES256")
    yield server
    server.close()


@pytest.fixture(scope="module")
def idp_api(bff_env: dict[str, str], jwks: Jwks) -> Iterator[ApiServer]:
    env = {
        **bff_env,
        "BFF_JWT_JWKS_URL": jwks.url,
        "BFF_JWT_ISSUER": ISSUER,
        "BFF_JWT_AUDIENCE": AUDIENCE,
        "BFF_JWT_JWKS_MIN_REFETCH_S": "0",  # a rotated key is picked up at once here
    }
    server = ApiServer("api-idp", env).start()
    yield server
    server.close()


async def get_drafts(server: ApiServer, token: str, partner: str | bytes) -> httpx.Response:
    value = partner if isinstance(partner, bytes) else partner.encode()
    headers = {b"Authorization": f"Bearer {token}".encode(), b"X-Preferred-Partner-Id": value}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get("/v1/drafts", headers=headers)


async def test_rs256_and_es256_tokens_of_the_identity_provider_are_accepted(idp_api, partner):
    for token in (
        idp_token(RSA_KEY, "rsa-1", partners=[partner]),
        idp_token(EC_KEY, "ec-1", algorithm="ES256", partners=[partner]),
    ):
        response = await get_drafts(idp_api, token, partner)
        assert response.status_code == 200, response.text


async def test_wrong_issuer_audience_kid_or_expiry_is_401(idp_api, partner):
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (
        idp_token(RSA_KEY, "rsa-1", partners=[partner], iss="https://evil.example/"),
        idp_token(RSA_KEY, "rsa-1", partners=[partner], aud="another-service"),
        idp_token(RSA_KEY, "nobody-knows-this-kid", partners=[partner]),
        idp_token(forged_key, "rsa-1", partners=[partner]),
        idp_token(RSA_KEY, "rsa-1", partners=[partner], exp=int(time.time()) - 10),
        idp_token(EC_KEY, "rsa-1", algorithm="ES256", partners=[partner]),  # the kid names an RSA key
    ):
        response = await get_drafts(idp_api, token, partner)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_hs256_token_signed_with_the_public_key_is_refused(idp_api, partner):
    """Algorithm confusion: the public key is public; as an HMAC secret it proves nothing."""
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "permissions": ["backhaul"],
              "partners": [partner]}  # fmt: skip
    response = await get_drafts(idp_api, hs256_signed_with(pem, claims, "rsa-1"), partner)
    assert response.status_code == 401


async def test_alg_none_is_refused(idp_api, partner):
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": "x", "exp": int(time.time()) + 600, "partners": [partner],
                              "permissions": ["backhaul"]}).encode())  # fmt: skip
    assert (await get_drafts(idp_api, f"{header}.{payload}.", partner)).status_code == 401


async def test_a_rotated_key_is_fetched_when_its_kid_first_appears(idp_api, jwks, partner):
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "rsa-" + uuid.uuid4().hex[:6]
    jwks.add(kid, new_key, "RS256")
    response = await get_drafts(idp_api, idp_token(new_key, kid, partners=[partner]), partner)
    assert response.status_code == 200, response.text


async def test_unknown_kids_do_not_make_the_cache_hammer_the_identity_provider(jwks):
    async with httpx.AsyncClient() as http:
        cache = JwksCache(jwks.url, http, min_refetch_s=3600)
        before = jwks.fetches
        assert await cache.key("rsa-1") is not None
        for n in range(20):
            assert await cache.key(f"made-up-{n}") is None
    assert jwks.fetches - before == 1


async def test_star_grants_every_partner_only_when_alone(api_server, partner):
    alone = make_token(partners=["*"])
    mixed = make_token(partners=[partner, "*"])
    assert (await get_drafts(api_server, alone, partner + "-any")).status_code == 200
    assert (await get_drafts(api_server, mixed, partner)).status_code == 200
    assert (await get_drafts(api_server, mixed, partner + "-other")).status_code == 403
    assert (await get_drafts(api_server, mixed, "*")).status_code == 403


async def test_a_non_ascii_or_oversized_partner_header_is_400(api_server):
    token = make_token(partners=["*"])
    for partner in ("pärtner".encode(), b"p" * 200, "\u00a0".encode()):
        response = await get_drafts(api_server, token, partner)
        assert response.status_code == 400, (partner, response.text)
        assert "X-Preferred-Partner-Id" in response.json()["detail"]


def test_the_dev_token_command_names_its_partners():
    result = subprocess.run(
        [sys.executable, "-m", "app", "token"],
        env={"BFF_JWT_SECRET": "x" * 32, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "--partner" in result.stderr
