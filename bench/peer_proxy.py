"""The peer: `/v1/packages/{id}/status` as a team would write it with the full-stack FastAPI
template's idioms instead of this service. An ``Annotated`` dependency chain verifies the same
HS256 JWT with pyjwt (bearer scheme → token → current user, the template's ``TokenDep`` and
``CurrentUser``), one shared httpx ``AsyncClient`` made in the lifespan reads the package from
the same simulator, and the answer goes out through a ``response_model``. No rate limit, no
cache, no signed link, no access line: it does less than the BFF's route.

Run as ``python bench/peer_proxy.py PORT UPSTREAM_URL JWT_SECRET``: uvicorn as the API runs
(httptools, uvloop, no access log).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import jwt
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

UPSTREAM_URL = sys.argv[2].rstrip("/") if len(sys.argv) > 2 else "http://127.0.0.1:8001"
SECRET = sys.argv[3] if len(sys.argv) > 3 else "change-me"
ALGORITHM = "HS256"


class TokenPayload(BaseModel):
    sub: str
    exp: int
    permissions: list[str] = []
    partners: list[str] = []


class CurrentUserModel(BaseModel):
    sub: str
    partner_id: str
    token: str


class PackageStatusPublic(BaseModel):
    id: str
    status: str
    progress: int | None = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with httpx.AsyncClient(base_url=UPSTREAM_URL, timeout=10.0) as client:
        app.state.http = client
        yield


app = FastAPI(title="peer", lifespan=lifespan)
reusable_bearer = HTTPBearer()
TokenDep = Annotated[HTTPAuthorizationCredentials, Depends(reusable_bearer)]


def get_http(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.http
    return client


HttpDep = Annotated[httpx.AsyncClient, Depends(get_http)]


def get_current_user(
    credentials: TokenDep, x_preferred_partner_id: Annotated[str, Header()]
) -> CurrentUserModel:
    try:
        payload = jwt.decode(credentials.credentials, SECRET, algorithms=[ALGORITHM])
        token_data = TokenPayload(**payload)
    except (jwt.InvalidTokenError, ValidationError):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED, detail="Could not validate credentials"
        ) from None
    if "backhaul" not in token_data.permissions:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not enough permissions")
    if token_data.partners != ["*"] and x_preferred_partner_id not in token_data.partners:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not allowed for this partner")
    return CurrentUserModel(
        sub=token_data.sub, partner_id=x_preferred_partner_id, token=credentials.credentials
    )


CurrentUser = Annotated[CurrentUserModel, Depends(get_current_user)]


@app.get("/v1/packages/{package_id}/status", response_model=PackageStatusPublic)
async def read_package_status(
    package_id: str, current_user: CurrentUser, http: HttpDep
) -> PackageStatusPublic:
    """Retrieve a package's status."""
    response = await http.get(
        f"/package_builder/packages/{package_id}",
        headers={
            "Authorization": f"Bearer {current_user.token}",
            "X-Preferred-Partner-Id": current_user.partner_id,
        },
    )
    if response.status_code == status.HTTP_404_NOT_FOUND:
        raise HTTPException(status_code=404, detail="Package not found")
    if response.is_error:
        raise HTTPException(status_code=502, detail="Upstream error")
    data = response.json()
    progress = data.get("progress")
    return PackageStatusPublic(
        id=data["id"], status=data["status"], progress=round(progress) if progress is not None else None
    )


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )
