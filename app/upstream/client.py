"""PackageBuilderClient: one typed async method per upstream endpoint of the guide.

Every call goes through the process's one upstream pool (``http.UpstreamHttp``): JSON
answers read whole within ``BFF_UPSTREAM_MAX_ANSWER_BYTES``, CSV downloads streamed as they
come, each call within ``BFF_UPSTREAM_DEADLINE_S``, retried only where that is harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

import aiohttp.abc
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from app.kit.links import path_segment
from app.kit.tracing import continue_trace
from app.observability.metrics import upstream_call
from app.upstream.answers import Answer, raise_for_status
from app.upstream.errors import UpstreamBadResponse
from app.upstream.http import StreamedAnswer, UpstreamHttp
from app.upstream.models import (
    CreatePackagePayload,
    Evaluation,
    EvaluationDetails,
    ExportPayload,
    ListedPackage,
    PackageHead,
    PackageRef,
    PackageState,
    UpstreamPackage,
)

logger = logging.getLogger("app.upstream")

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")
JSON_CONTENT = {"Content-Type": "application/json"}
MAX_ANSWER_BYTES = 8 * 1024 * 1024
DEADLINE_S = 15.0
# An open upstream CSV answer: raw bytes as they come (``chunks()``), its entity headers
# (``headers``); the caller must ``aclose()`` it.
CustomerListStream = StreamedAnswer
_PACKAGE_LIST = TypeAdapter(list[ListedPackage])
_PACKAGE_HEADS = TypeAdapter(list[PackageHead])


@dataclass(frozen=True, slots=True)
class Sized(Generic[T]):
    """A parsed answer and the size of its body: what the poller weighs its calls by."""

    value: T
    size: int


def service_authorization(service_token: SecretStr | None) -> str:
    """The ``Authorization`` the service itself sends upstream; empty when no token is set
    (the upstream then answers 401, which is reported as such)."""
    return f"Bearer {service_token.get_secret_value()}" if service_token else ""


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who an upstream call is made for: relayed as headers on every call."""

    authorization: str
    partner_id: str
    request_id: str = ""
    traceparent: str = ""  # W3C trace context continued from the request (or the job)

    @classmethod
    def of_service(
        cls, service_token: SecretStr | None, partner_id: str, request_id: str, traceparent: str = ""
    ) -> CallContext:
        """The service's own identity upstream (``BFF_UPSTREAM_SERVICE_TOKEN``), acting for
        the partner whose package, export or signed link it handles; a job enqueued by a
        request continues that request's trace."""
        trace = continue_trace(traceparent) if traceparent else ""
        return cls(service_authorization(service_token), partner_id, request_id, trace)

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": self.authorization,
            "X-Preferred-Partner-Id": self.partner_id,
            "Accept": "application/json",
        }
        if self.request_id:
            headers["X-Request-ID"] = self.request_id
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        return headers


def _not_json(exc: ValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors())


class PackageBuilderClient:
    """Typed calls to the Package Builder API (and the data-integrations layer)."""

    def __init__(
        self,
        base_url: str,
        data_integrations_url: str,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        max_connections: int = 200,
        retries: int = 2,
        deadline_s: float = DEADLINE_S,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        resolver: aiohttp.abc.AbstractResolver | None = None,
    ) -> None:
        """``timeout_s`` bounds each read (and the wait for a pooled connection),
        ``deadline_s`` a whole call, retries included; ``resolver`` is how host names are
        resolved (default: the system's)."""
        self._base_url = base_url.rstrip("/")
        self._integrations_url = data_integrations_url.rstrip("/")
        self._http = UpstreamHttp(
            max_connections=max_connections,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            retries=retries,
            deadline_s=deadline_s,
            max_answer_bytes=max_answer_bytes,
            resolver=resolver,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def serves_fixture(self, partner_id: str) -> bool:
        """True for demo partners, whose data never changes (see app/upstream/demo.py)."""
        return False

    # -- list -------------------------------------------------------------------------------

    async def list_packages(self, ctx: CallContext) -> list[ListedPackage]:
        """``GET /package_builder/packages/``: all packages of the partner."""
        return parse_package_list(await self.list_packages_body(ctx))

    async def list_packages_body(self, ctx: CallContext) -> bytes:
        """The same list as the upstream sent it (bounded like every answer), for a caller
        that parses it elsewhere (``parse_package_list``): a long list's parse is hundreds of
        milliseconds of CPU, which must not hold an API's event loop."""
        response = await self._request("GET", "/package_builder/packages/", ctx)
        return response.body

    async def list_package_heads(self, ctx: CallContext) -> Sized[list[PackageHead]]:
        """The same list, reading only what a status poll needs of each package."""
        response = await self._request("GET", "/package_builder/packages/", ctx)
        try:
            return Sized(_PACKAGE_HEADS.validate_json(response.body), len(response.body))
        except ValidationError as exc:
            logger.warning("unexpected upstream package list: %s", exc)
            raise UpstreamBadResponse("the upstream answered with an unexpected package list") from exc

    async def merge_packages(self, ctx: CallContext, package_ids: Sequence[str]) -> PackageRef:
        """``POST /package_builder/packages/merge?packages_ids=A&packages_ids=B``, no body."""
        params = [("packages_ids", package_id) for package_id in package_ids]
        response = await self._request("POST", "/package_builder/packages/merge", ctx, params=params)
        ref = self._ref_of(response)
        if ref is not None:
            return ref
        # The guide does not say what merge answers: find the new package by its merge_id.
        merge_id = "_".join(package_ids)
        candidates = [p for p in await self.list_packages(ctx) if p.merge_id == merge_id]
        if not candidates:
            raise UpstreamBadResponse("the upstream accepted the merge but named no package")
        return PackageRef(id=max(candidates, key=lambda p: (p.created_at or "", p.id)).id)

    # -- create -----------------------------------------------------------------------------

    async def create_package(self, ctx: CallContext, payload: CreatePackagePayload) -> PackageRef:
        """``POST /package_builder/packages``: starts an async build (INITIALIZING)."""
        response = await self._request(
            "POST", "/package_builder/packages", ctx, json=payload.model_dump_json()
        )
        ref = self._ref_of(response)
        if ref is None:
            raise UpstreamBadResponse("the upstream created a package but answered no id")
        return ref

    async def search_events(self, ctx: CallContext, *, search: str, page: int, since: str | None) -> Any:
        """``GET /events?search=&page=&since=``: the wizard's event picker."""
        params: dict[str, str | int] = {"search": search, "page": page}
        if since:
            params["since"] = since
        response = await self._request("GET", "/events", ctx, params=list(params.items()))
        return self._json(response)

    async def ids_from_nl_description(
        self,
        ctx: CallContext,
        *,
        description: str,
        result_type: str | None,
        language: str | None,
    ) -> Any:
        """``GET /nlq/ids_from_nl_description``: natural-language customer filter → ids."""
        params = {"description": description}
        if result_type:
            params["result_type"] = result_type
        if language:
            params["language"] = language
        response = await self._request(
            "GET", "/nlq/ids_from_nl_description", ctx, params=list(params.items())
        )
        return self._json(response)

    # -- results ----------------------------------------------------------------------------

    async def get_package(self, ctx: CallContext, package_id: str) -> UpstreamPackage:
        """``GET /package_builder/packages/{id}``: status, content, events, …"""
        response = await self._request("GET", self._package_path(package_id), ctx)
        return self._parse(response, UpstreamPackage)

    async def get_package_sized(self, ctx: CallContext, package_id: str) -> Sized[UpstreamPackage]:
        """``get_package`` and the size of its answer."""
        response = await self._request("GET", self._package_path(package_id), ctx)
        return Sized(self._parse(response, UpstreamPackage), len(response.body))

    async def get_package_state(self, ctx: CallContext, package_id: str) -> PackageState:
        """The same GET, reading only ``id``, ``status`` and ``progress`` (what a status
        check needs: the content, events and settings are skipped unparsed)."""
        response = await self._request("GET", self._package_path(package_id), ctx)
        return self._parse(response, PackageState)

    async def get_evaluation_details(self, ctx: CallContext, package_id: str) -> EvaluationDetails:
        """``GET …/backhaul_evaluation_details``: the current attribution settings."""
        path = self._package_path(package_id, "backhaul_evaluation_details")
        return self._parse(await self._request("GET", path, ctx), EvaluationDetails)

    async def put_evaluation_details(
        self, ctx: CallContext, package_id: str, details: EvaluationDetails
    ) -> None:
        """``PUT …/backhaul_evaluation_details``: save settings, which triggers a re-eval."""
        path = self._package_path(package_id, "backhaul_evaluation_details")
        await self._request("PUT", path, ctx, json=details.model_dump_json())

    async def get_evaluation(self, ctx: CallContext, package_id: str) -> Evaluation:
        """``GET …/backhaul_evaluation``: per-cluster attribution results."""
        path = self._package_path(package_id, "backhaul_evaluation")
        return self._parse(await self._request("GET", path, ctx), Evaluation)

    async def regenerate_package(self, ctx: CallContext, package_id: str) -> None:
        """``POST …/regenerate``: an EXPIRED package re-enters INITIALIZING."""
        await self._request("POST", self._package_path(package_id, "regenerate"), ctx)

    async def stream_customer_list(self, ctx: CallContext, package_id: str, tc: str) -> CustomerListStream:
        """``GET …/{tc}/customer_list``, opened for streaming; ``tc`` is encoded, not slugified."""
        url = self._base_url + self._package_path(package_id, path_segment(tc), "customer_list")
        return await self._http.open(url, ctx.headers())

    async def create_export(self, ctx: CallContext, payload: ExportPayload) -> dict[str, Any]:
        """Data-integrations ``POST /exports``: push one cluster to a CRM."""
        response = await self._request(
            "POST", "/exports", ctx, json=payload.model_dump_json(), base=self._integrations_url
        )
        body = self._json(response) if response.body else {}
        return body if isinstance(body, dict) else {"result": body}

    async def ping(self) -> bool:
        """True when the upstream answers HTTP at all (any status)."""
        return await self._http.ping(self._base_url + "/")

    # -- plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _package_path(package_id: str, *rest: str) -> str:
        parts = ["/package_builder/packages", path_segment(package_id), *rest]
        return "/".join(parts)

    async def _request(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        params: Sequence[tuple[str, str | int]] | None = None,
        json: str | None = None,
        base: str | None = None,
    ) -> Answer:
        """One JSON call (see ``UpstreamHttp``); 4xx/5xx raised as our errors."""
        url = (base or self._base_url) + path
        if params:
            url += "?" + urlencode(params)
        headers = ctx.headers()
        body = None
        if json is not None:
            headers.update(JSON_CONTENT)
            body = json.encode()
        with upstream_call(method, path) as call:
            answer = await self._http.call(method, url, headers, body)
            call.status = answer.status
        raise_for_status(answer)
        return answer

    @staticmethod
    def _json(answer: Answer) -> Any:
        try:
            return json.loads(answer.body)
        except ValueError as exc:
            raise UpstreamBadResponse("the upstream answered with a body that is not JSON") from exc

    @staticmethod
    def _ref_of(answer: Answer) -> PackageRef | None:
        """The new package's id from ``{"id": …}`` (the guide), or the few shapes close to it."""
        try:
            body = json.loads(answer.body) if answer.body else None
        except ValueError:
            return None
        if isinstance(body, dict) and isinstance(body.get("package"), dict):
            body = body["package"]
        if isinstance(body, dict):
            body = next((body[k] for k in ("id", "package_id", "packageId") if body.get(k)), None)
        if isinstance(body, str | int) and not isinstance(body, bool) and str(body).strip():
            return PackageRef(id=str(body).strip())
        return None

    def _parse(self, answer: Answer, model: type[ModelT]) -> ModelT:
        """Validated straight from the bytes: fields the model does not name are skipped."""
        try:
            return model.model_validate_json(answer.body)
        except ValidationError as exc:
            if _not_json(exc):
                raise UpstreamBadResponse("the upstream answered with a body that is not JSON") from exc
            logger.warning("unexpected upstream payload for %s: %s", model.__name__, exc)
            raise UpstreamBadResponse(
                f"the upstream answered with an unexpected {model.__name__} payload"
            ) from exc


def parse_package_list(body: bytes) -> list[ListedPackage]:
    """The upstream's package list, validated; ``UpstreamBadResponse`` when it is not one."""
    try:
        return _PACKAGE_LIST.validate_json(body)
    except ValidationError as exc:
        if _not_json(exc):
            raise UpstreamBadResponse("the upstream answered with a body that is not JSON") from exc
        logger.warning("unexpected upstream package list: %s", exc)
        raise UpstreamBadResponse("the upstream answered with an unexpected package list") from exc
