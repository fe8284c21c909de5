"""Per-process objects of the API (clients, domain services), each behind a typed key.

The API's lifespan ``provide``s them on ``app.state``; a key is also the FastAPI dependency
that hands its object to an endpoint (``Annotated[Redis, Depends(REDIS)]``), so a domain
declares what it needs without knowing who builds it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request

T = TypeVar("T")


class Provided(Generic[T]):
    """The key of one per-process object, and its dependency."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, request: Request) -> T:
        return self.of(request.app)

    def of(self, app: Starlette) -> T:
        value: T = getattr(app.state, self.name)
        return value

    def provide(self, app: Starlette, value: T) -> T:
        setattr(app.state, self.name, value)
        return value

    def __repr__(self) -> str:
        return f"Provided({self.name!r})"
