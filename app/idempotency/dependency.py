"""The ``Idempotency-Key`` header as a FastAPI dependency, and answers replayed as HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.auth.deps import PrincipalDep
from app.auth.tokens import Principal
from app.idempotency.service import IdempotencyService, fingerprint
from app.idempotency.store import StoredResponse
from app.kit.errors import BadRequest
from app.kit.state import Provided
from app.observability.metrics import count_idempotency_replay

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# What a replay repeats besides status and body (content-type keeps problem+json intact).
KEPT_HEADERS = ("location", "retry-after", "content-type", "etag", "cache-control")


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="1-255 printable ASCII characters; a retry of "
            "the same request with the same key gets the first answer again",
            json_schema_extra={"pattern": "^[ -~]{1,255}$", "minLength": 1, "maxLength": 255},
        ),
    ] = None,
) -> str | None:
    """The header's value, or 400 when it is not 1-255 printable ASCII characters."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise BadRequest(
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII "
            "characters (a UUID is a good choice)"
        )
    return key


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Answer(Generic[M]):
    """What an operation answers besides the route's status code: its model and headers."""

    body: M
    headers: dict[str, str] = field(default_factory=dict)


class Idempotency:
    """Per-request handle: ``respond`` runs an operation once per key and replays after."""

    def __init__(
        self,
        service: IdempotencyService,
        principal: Principal,
        key: str | None,
        request: Request,
        response: Response,
    ) -> None:
        self._service = service
        self._principal = principal
        self.key = key
        self._method = request.method
        self._path = request.url.path
        route = request.scope.get("route")
        self._status = getattr(route, "status_code", None) or 200  # the route's declared status
        self._response = response

    async def respond(
        self,
        scope: str,
        body: Any,
        perform: Callable[[], Awaitable[Answer[M]]],
        *,
        key: str | None = None,
    ) -> M | Response:
        """``perform()``'s model (its headers set on the answer); without a key (header or
        ``key=``) it simply runs. A replay is the stored answer's bytes.

        ``scope`` names the operation ("create", "merge", "regenerate", "export", …): a key
        is unique per partner, caller (token ``sub``) and scope. ``body`` is the validated
        request body (or None); with method and path it forms the fingerprint that a retry
        must match.
        """
        key = key or self.key
        if key is None:
            return self._answer(await perform())
        fresh: list[Answer[M]] = []

        async def run() -> StoredResponse:
            answer = await perform()
            fresh.append(answer)
            return self._stored(answer)

        outcome = await self._service.once(
            self._principal.partner_id,
            self._principal.sub,
            scope,
            key,
            fingerprint(self._method, self._path, body),
            run,
        )
        if not outcome.replayed:
            return self._answer(fresh[0])
        count_idempotency_replay(scope)
        return replayed(outcome.response)

    def _answer(self, answer: Answer[M]) -> M:
        self._response.headers.update(answer.headers)
        return answer.body

    def _stored(self, answer: Answer[M]) -> StoredResponse:
        headers = {name.lower(): value for name, value in answer.headers.items()}
        kept = {name: value for name, value in headers.items() if name in KEPT_HEADERS}
        kept["content-type"] = "application/json"
        return StoredResponse(self._status, answer.body.model_dump_json(), kept)


def replayed(response: StoredResponse) -> Response:
    headers = {**response.headers, REPLAYED_HEADER: "true"}
    media_type = headers.pop("content-type", "application/json")
    return Response(response.body, status_code=response.status, headers=headers, media_type=media_type)


IDEMPOTENCY = Provided[IdempotencyService]("idempotency_service")
IdempotencyServiceDep = Annotated[IdempotencyService, Depends(IDEMPOTENCY)]


async def idempotency(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    service: IdempotencyServiceDep,
    key: Annotated[str | None, Depends(idempotency_key)],
) -> Idempotency:
    return Idempotency(service, principal, key, request, response)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
