"""PackageBuilderClient: one typed async method per upstream endpoint of the guide.

One pooled ``httpx.AsyncClient`` for JSON calls and a second one for CSV
downloads, so that long downloads never starve the JSON calls of connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode, urljoin, urlsplit

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from app.kit.errors import field_error
from app.kit.tracing import continue_trace
from app.observability.metrics import upstream_call
from app.upstream.channel import Answer, make_channel, make_httpx_client
from app.upstream.errors import (
    StreamBrokenOff,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
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
RETRYABLE_STATUSES = frozenset({502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
JSON_CONTENT = {"Content-Type": "application/json"}
# Sent by the BFF itself; everything else in a CSV answer is the upstream's to keep.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
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


def path_segment(value: str) -> str:
    """Percent-encode one path segment: ``/`` included, never slugified.

    ``.`` and ``..`` are encoded too, or URL normalisation would remove them.
    """
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


class CustomerListStream:
    """An open upstream CSV answer; the caller must ``aclose()`` it."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def headers(self) -> dict[str, str]:
        """Entity headers to forward as they came (encoding and length stay true)."""
        keep = ("content-type", "content-length", "content-encoding", "etag", "last-modified")
        return {k: v for k, v in self._response.headers.items() if k.lower() in keep}

    async def chunks(self) -> AsyncIterator[bytes]:
        """Raw bytes, still encoded as the upstream sent them. A failure part-way aborts
        the client's transfer (StreamBrokenOff) instead of ending it as if complete."""
        sent = 0
        try:
            async for chunk in self._response.aiter_raw():
                sent += len(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            logger.warning(
                "upstream CSV %s broke off after %d bytes (%s); aborting the client's transfer",
                self._response.url.path,
                sent,
                type(exc).__name__,
            )
            raise StreamBrokenOff(f"the upstream CSV broke off after {sent} bytes") from exc
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()


def _detail_of(answer: Answer) -> str:
    """The upstream's own message when it gave one, for the problem detail."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f"upstream: {value}"
    return f"the upstream answered {answer.status} {answer.reason}".strip()


MAX_FIELD_ERRORS = 50


def _field_errors_of(answer: Answer) -> list[dict[str, Any]] | None:
    """The field list of an upstream 422, in our shape (``loc`` starts with ``upstream``):
    FastAPI's ``{"detail": [{loc, msg, type}]}``, ``{"errors": [{field|loc|path, message|msg}]}``
    or ``{"errors": {field: [messages]}}``. None when the answer has no such list."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    items: list[tuple[list[Any], str, str]] = []
    listed = body.get("detail") if isinstance(body.get("detail"), list) else body.get("errors")
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, dict):
                where = entry.get("loc", entry.get("field", entry.get("path", [])))
                loc = list(where) if isinstance(where, list) else str(where).split(".") if where else []
                message = entry.get("msg", entry.get("message", ""))
                items.append((loc, str(message), str(entry.get("type", "upstream_validation"))))
    elif isinstance(listed, dict):
        for field, messages in listed.items():
            for message in messages if isinstance(messages, list) else [messages]:
                items.append((str(field).split("."), str(message), "upstream_validation"))
    if not items:
        return None
    return [
        field_error(["upstream", *(str(part)[:100] for part in loc[:10])], message[:500], kind[:100])
        for loc, message, kind in items[:MAX_FIELD_ERRORS]
    ]


def _raise_for_status(answer: Answer) -> None:
    status = answer.status
    if 200 <= status < 300:
        return
    if 400 <= status < 500:
        headers = {}
        if status == 429 and "retry-after" in answer.headers:
            headers["Retry-After"] = answer.headers["retry-after"]
        errors = _field_errors_of(answer) if status == 422 else None
        detail = _detail_of(answer)
        if errors:
            summary = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
            detail = f"the upstream refused the request: {summary}"
        raise UpstreamRejected(status, detail, headers, errors)
    raise UpstreamUnavailable(f"the upstream answered {status}")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


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
        transport: str = "httpx",
    ) -> None:
        """``transport`` is ``"aiohttp"`` (fast pool, the service default) or ``"httpx"``."""
        self._base_url = base_url.rstrip("/")
        self._integrations_url = data_integrations_url.rstrip("/")
        self._retries = retries
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=timeout_s)
        # JSON calls take the thin channel; CSV downloads keep an httpx client (streaming,
        # raw bytes) on a pool of their own, so long downloads never starve JSON calls.
        # Neither keeps cookies (see channel.py).
        self._channel = make_channel(transport, max_connections, timeout)
        self._downloads = make_httpx_client(transport, max_connections, timeout, follow_redirects=True)

    async def aclose(self) -> None:
        await self._channel.aclose()
        await self._downloads.aclose()

    def serves_fixture(self, partner_id: str) -> bool:
        """True for demo partners, whose data never changes (see app/upstream/demo.py)."""
        return False

    # -- list -------------------------------------------------------------------------------

    async def list_packages(self, ctx: CallContext) -> list[ListedPackage]:
        """``GET /package_builder/packages/``: all packages of the partner."""
        response = await self._request("GET", "/package_builder/packages/", ctx)
        return self._parse_list(response)

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
        request = self._downloads.build_request("GET", url, headers=ctx.headers())
        response = await self._stream(request)
        if not 200 <= response.status_code < 300:
            body = await response.aread()
            await response.aclose()
            _raise_for_status(Answer(response.status_code, response.reason_phrase, response.headers, body))
        return CustomerListStream(response)

    async def create_export(self, ctx: CallContext, payload: ExportPayload) -> dict[str, Any]:
        """Data-integrations ``POST /exports``: push one cluster to a CRM."""
        response = await self._request(
            "POST", "/exports", ctx, json=payload.model_dump_json(), base=self._integrations_url
        )
        body = self._json(response) if response.body else {}
        return body if isinstance(body, dict) else {"result": body}

    async def ping(self) -> bool:
        """True when the upstream answers HTTP at all (any status)."""
        try:
            await self._channel.call("GET", self._base_url + "/", {}, timeout_s=2.0)
        except httpx.HTTPError:
            return False
        return True

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
        """One JSON call: retried where safe, same-origin redirects followed, 4xx/5xx raised."""
        url = (base or self._base_url) + path
        if params:
            url += "?" + urlencode(params)
        headers = ctx.headers()
        body = None
        if json is not None:
            headers.update(JSON_CONTENT)
            body = json.encode()
        for _ in range(MAX_REDIRECTS + 1):
            with upstream_call(method, path) as call:
                answer = await self._send(method, url, headers, body)
                call.status = answer.status
            location = answer.headers.get("location")
            if answer.status not in REDIRECTS or not location:
                break
            target = urljoin(url, location)
            if _origin(target) != _origin(url):  # the caller's token never leaves the origin
                raise UpstreamBadResponse("the upstream redirected to another origin")
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            url = target
        _raise_for_status(answer)
        return answer

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Answer:
        """Send with bounded, jittered retries where a retry cannot do harm.

        Connection failures are retried for every method (nothing reached the
        upstream); broken answers and 502/503/504 only for GET and PUT.
        """
        idempotent = method in ("GET", "PUT")
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                answer = await self._channel.call(method, url, headers, body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    raise self._translate(exc) from exc
            except httpx.PoolTimeout as exc:
                raise self._translate(exc) from exc
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise self._translate(exc) from exc
            else:
                if last or not idempotent or answer.status not in RETRYABLE_STATUSES:
                    return answer
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream(self, request: httpx.Request) -> httpx.Response:
        """Open a download, with the retries of an idempotent call (before any byte is read)."""
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._downloads.send(request, stream=True)
            except httpx.PoolTimeout as exc:
                raise self._translate(exc) from exc
            except httpx.TransportError as exc:
                if last:
                    raise self._translate(exc) from exc
            else:
                if last or response.status_code not in RETRYABLE_STATUSES:
                    return response
                await response.aclose()
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _backoff(attempt: int) -> float:
        """Full jitter: 0 .. 0.1 s × 2^attempt, so retries of many callers spread out."""
        return random.uniform(0, 0.1 * 2**attempt)

    @staticmethod
    def _translate(exc: httpx.HTTPError) -> UpstreamError:
        if isinstance(exc, httpx.PoolTimeout):
            return UpstreamUnavailable("no upstream connection became free in time", status=503)
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout(f"the upstream did not answer in time ({type(exc).__name__})")
        return UpstreamUnavailable(f"the upstream could not be reached ({type(exc).__name__})")

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

    def _parse_list(self, answer: Answer) -> list[ListedPackage]:
        try:
            return _PACKAGE_LIST.validate_json(answer.body)
        except ValidationError as exc:
            if _not_json(exc):
                raise UpstreamBadResponse("the upstream answered with a body that is not JSON") from exc
            logger.warning("unexpected upstream package list: %s", exc)
            raise UpstreamBadResponse("the upstream answered with an unexpected package list") from exc
