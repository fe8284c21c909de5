"""The API's answers carry exactly the headers its OpenAPI document declares.

Every operation of the document is called against the live API (the suite's simulator and
Redis), for its success status and the common errors where an operation has them: 304, 400,
401, 403, 404, 409 (also an Idempotency-Key in flight), 412, 413, 422, 428, 429 and 502. A
header the API sends must be declared on that operation and status, unless it is one of
``GENERIC`` (HTTP's own framing, each with its reason); a declared header marked ``required``
must be sent. A generated client reads ``Location``, ``Retry-After``, ``ETag`` … only where the
document says they are.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.idempotency import keys as idempotency_keys
from tests.conftest import make_token
from tests.support.processes import ApiServer
from tests.support.sim import add_fault

# Headers about the message or the connection, not the operation: HTTP defines them for every
# response, so an API document does not list them (OpenAPI: "Content-Type" is even ignored).
GENERIC = {
    "content-type": "the media type, which the document gives as the response's content",
    "content-length": "framing (RFC 9112 §6): the server picks it or chunking per response",
    "transfer-encoding": "framing (RFC 9112 §6), as content-length",
    "date": "RFC 9110 §6.6.1: an origin server with a clock sends it on every response",
    "connection": "hop-by-hop (RFC 9110 §7.6.1): about this connection, not the operation",
    "keep-alive": "hop-by-hop, as connection",
    "vary": "for caches: Starlette's CORS middleware adds `Vary: Origin` wherever origins are set",
}

CREATE = {
    "title": "Munich shows Q3",
    "event_ids": [12345, 23456],
    "targeting_mode": "lookalike",
    "filters": {"exclude_ticket_categories": ["VIP"]},
}
EXPORT = {"crm_name": "hubspot", "secret_id": "sec_1", "container_name": "Munich Q3"}
EVALUATION = {"attribution_window_days": 30, "model": "ALL_EVENTS", "email_sent_date": "2026-06-01"}


@dataclass
class Answer:
    operation: str
    status: int
    headers: httpx.Headers
    case: str


class Caller:
    """Calls operations by their operationId and keeps every answer's status and headers."""

    def __init__(self, document: dict[str, Any], client: httpx.AsyncClient) -> None:
        self.client = client
        self.answers: list[Answer] = []
        self.routes = {
            operation["operationId"]: (method.upper(), path)
            for path, item in document["paths"].items()
            for method, operation in item.items()
        }

    async def call(
        self,
        operation: str,
        expect: int,
        case: str = "",
        *,
        client: httpx.AsyncClient | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        method, template = self.routes[operation]
        params = {k: kwargs.pop(k) for k in list(kwargs) if "{" + k + "}" in template}
        url = template.format(**params)
        async with (client or self.client).stream(method, url, **kwargs) as response:
            if not stream:
                await response.aread()
        self.answers.append(Answer(operation, response.status_code, response.headers, case or str(expect)))
        assert response.status_code == expect, f"{operation} {case}: {response.status_code} {response.text}"
        return response


@pytest.fixture(scope="module")
async def document(api_server: ApiServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as client:
        response = await client.get("/openapi.json")
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
        return doc


@pytest.fixture(scope="module")
def rate_limited_api(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    """A replica whose partner rate is one request, then one an hour: the second is a 429."""
    api = ApiServer(
        "api-headers-429", {**bff_env, "BFF_RATE_LIMIT_RPS": "0.0003", "BFF_RATE_LIMIT_BURST": "1"}
    )
    api.start()
    yield api
    api.close()


async def test_every_header_sent_is_declared_for_its_operation_and_status(
    document, api_server, second_api_server, rate_limited_api, sim, redis, partner, auth_headers
):
    async with httpx.AsyncClient(base_url=api_server.url, headers=auth_headers, timeout=30) as client:
        caller = Caller(document, client)
        await call_every_operation(caller, sim, partner)
        await call_common_errors(caller, sim, partner, auth_headers)
        await call_while_a_key_is_in_flight(caller, sim, partner, redis, second_api_server.url)
        async with httpx.AsyncClient(base_url=rate_limited_api.url, timeout=30) as limited:
            other = "p-" + uuid.uuid4().hex[:12]
            headers = {
                "Authorization": f"Bearer {make_token(partners=[other])}",
                "X-Preferred-Partner-Id": other,
            }
            await caller.call("list_drafts", 200, client=limited, headers=headers)
            await caller.call("list_drafts", 429, "over the partner's rate", client=limited, headers=headers)

    problems = [problem for answer in caller.answers for problem in check(document, answer)]
    assert not problems, "\n".join(problems)
    succeeded = {a.operation for a in caller.answers if a.status < 400}
    missing = sorted(set(caller.routes) - succeeded)
    assert not missing, f"operations never answered with success here (add a call): {missing}"


def check(document: dict[str, Any], answer: Answer) -> list[str]:
    method, path = next(
        (m.upper(), p)
        for p, item in document["paths"].items()
        for m, op in item.items()
        if op["operationId"] == answer.operation
    )
    where = f"{method} {path} ({answer.operation}, {answer.case}) answered {answer.status}"
    response = document["paths"][path][method.lower()]["responses"].get(str(answer.status))
    if response is None:
        return [f"{where}: status not in the document"]
    declared = {}
    for name, header in response.get("headers", {}).items():
        if "$ref" in header:
            header = document["components"]["headers"][header["$ref"].rsplit("/", 1)[1]]
        declared[name.lower()] = header
    problems = [
        f"{where}: sends {name}: {value!r}, which the document does not declare there"
        for name, value in answer.headers.items()
        if name not in declared and name not in GENERIC
    ]
    problems += [
        f"{where}: lacks {name}, which the document declares required"
        for name, header in declared.items()
        if header.get("required") and name not in answer.headers
    ]
    return problems


async def call_every_operation(caller: Caller, sim: httpx.AsyncClient, partner: str) -> None:
    """Each operation's success, and the other successes an operation has (304, replays)."""
    done = await make(sim, partner, "DONE", clusters=["Jazz"])
    other = await make(sim, partner, "DONE")
    expired = await make(sim, partner, "EXPIRED")
    building = await make(sim, partner, "INPROGRESS")
    call = caller.call

    await call("get_health", 200)
    await call("get_readiness", 200)
    await call("list_packages", 200)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    await call("create_package", 202, "with Idempotency-Key", json=CREATE, headers=key)
    await call("create_package", 202, "replayed", json=CREATE, headers=key)
    await call("merge_packages", 202, json={"package_ids": [done, other]})
    view = await call("get_package", 200, package_id=done)
    await call("get_package", 304, package_id=done, headers={"If-None-Match": view.headers["etag"]})
    await call("get_package_status", 200, package_id=building)
    await call("watch_package", 202, package_id=building)
    await call("stream_package_events", 200, package_id=building, stream=True)
    evaluation = await call("get_evaluation", 200, package_id=done)
    await call(
        "update_evaluation",
        200,
        package_id=done,
        json=EVALUATION,
        headers={"If-Match": evaluation.headers["etag"]},
    )
    await call("regenerate_package", 202, package_id=expired)
    await call("download_customer_list", 200, package_id=done, tc="Jazz")
    export = await call("create_export", 202, package_id=done, tc="Jazz", json=EXPORT)
    await call("get_export", 200, export_id=export.json()["id"])
    await call("list_exports", 200)
    await call("search_events", 200, params={"page": 1})
    await call("resolve_customers", 200, params={"description": "families in Munich", "language": "en"})

    draft = await call("create_draft", 201, json={"step": "preview", "state": CREATE})
    draft_id, tag = draft.json()["id"], draft.headers["etag"]
    await call("list_drafts", 200)
    await call("get_draft", 200, draft_id=draft_id)
    await call("get_draft", 304, draft_id=draft_id, headers={"If-None-Match": tag})
    tag = (
        await call(
            "update_draft", 200, draft_id=draft_id, json={"step": "preview"}, headers={"If-Match": tag}
        )
    ).headers["etag"]
    body = {"step": "preview", "state": CREATE}
    tag = (await call("replace_draft", 200, draft_id=draft_id, json=body, headers={"If-Match": tag})).headers[
        "etag"
    ]
    await call("submit_draft", 202, draft_id=draft_id)
    await call("submit_draft", 202, "again: the same package", draft_id=draft_id)
    await call("delete_draft", 204, draft_id=draft_id, headers={"If-Match": "*"})

    endpoint = await call(
        "create_webhook", 201, json={"url": "http://127.0.0.1:9/hook", "event_types": ["package.done"]}
    )
    endpoint_id = endpoint.json()["id"]
    await call("list_webhooks", 200)
    await call("get_webhook", 200, endpoint_id=endpoint_id)
    await call("update_webhook", 200, endpoint_id=endpoint_id, json={"description": "headers"})
    delivery = await call("send_test_webhook", 202, endpoint_id=endpoint_id)
    await call("list_webhook_deliveries", 200, endpoint_id=endpoint_id)
    await call("redeliver_webhook", 202, endpoint_id=endpoint_id, delivery_id=delivery.json()["id"])
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    await call("recover_webhook_deliveries", 202, endpoint_id=endpoint_id, json={"since": since})
    await call("rotate_webhook_secret", 200, endpoint_id=endpoint_id)
    await call("delete_webhook", 204, endpoint_id=endpoint_id)

    page = await call("list_activity", 200, params={"limit": 5})
    await call("list_activity", 200, "after a time", params={"after": since})
    await call("get_activity_stream_link", 200)
    await call("stream_activity", 200, stream=True)
    await call("poll_activity_consumer", 200, consumer="headers")
    await call("seek_activity_consumer", 200, consumer="headers", json={"iterator": page.json()["iterator"]})
    await call("delete_activity_consumer", 204, consumer="headers")


async def call_common_errors(
    caller: Caller, sim: httpx.AsyncClient, partner: str, auth_headers: dict[str, str]
) -> None:
    done = await make(sim, partner, "DONE", clusters=["Jazz"])
    call = caller.call
    async with httpx.AsyncClient(base_url=caller.client.base_url, timeout=30) as anonymous:
        await call("list_packages", 401, "no token", client=anonymous)
        await call("create_package", 401, "no token", client=anonymous, json=CREATE)
        await call(
            "stream_package_events", 401, "no token, no signed link", client=anonymous, package_id=done
        )
        await call("download_customer_list", 401, "no token", client=anonymous, package_id=done, tc="Jazz")
        token_only = {"Authorization": auth_headers["Authorization"]}
        await call("list_drafts", 400, "no partner header", client=anonymous, headers=token_only)
    no_permission = {"Authorization": f"Bearer {make_token(partners=[partner], permissions=[])}"}
    await call("list_packages", 403, "no backhaul permission", headers=no_permission)
    await call("create_draft", 413, "over BFF_MAX_BODY_BYTES", json={"state": {"big": "x" * 1_100_000}})
    await call("get_package", 404, package_id="404404404")
    await call("get_draft", 404, draft_id="d" * 32)
    await call("get_webhook", 404, endpoint_id="we_" + "0" * 24)
    await call("get_export", 404, export_id="ex_" + "0" * 24)
    await call("create_package", 422, json={})
    await call("regenerate_package", 409, "not EXPIRED", package_id=done)
    draft = await call("create_draft", 201, json={"step": "preview", "state": {}})
    draft_id = draft.json()["id"]
    await call("replace_draft", 428, draft_id=draft_id, json={"step": "preview", "state": {}})
    await call(
        "replace_draft",
        412,
        draft_id=draft_id,
        json={"step": "preview", "state": {}},
        headers={"If-Match": '"v99"'},
    )
    await add_fault(sim, "get_package", partner, status=500)
    await call("get_package", 502, "upstream 500", package_id=done)


async def call_while_a_key_is_in_flight(
    caller: Caller, sim: httpx.AsyncClient, partner: str, redis, replica_url: str
) -> None:
    """The 409 of an Idempotency-Key whose first request is still running (``Retry-After``).

    Both go to the replica that waits 0.3 s for a key in flight and gives the upstream 10 s, so
    the first one's 3 s upstream delay leaves the retry seconds to spare on a busy host."""
    await add_fault(sim, "create_package", partner, mode="delay", latency_ms=3000, count=1)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    # reads storage: the first request holds its key in flight, which only Redis shows
    marker = idempotency_keys.idempotency_in_flight(partner, "user-1", "create", key["Idempotency-Key"])
    async with httpx.AsyncClient(base_url=replica_url, headers=caller.client.headers, timeout=30) as replica:
        first = asyncio.ensure_future(
            caller.call("create_package", 202, "slow first", client=replica, json=CREATE, headers=key)
        )
        async with asyncio.timeout(10):
            while not await redis.exists(marker):
                assert not first.done(), "the first request ended before the retry could be sent"
                await asyncio.sleep(0.01)
        await caller.call(
            "create_package", 409, "its key in flight", client=replica, json=CREATE, headers=key
        )
        await first


async def make(sim: httpx.AsyncClient, partner: str, status: str, **fields: Any) -> str:
    response = await sim.post("/_sim/packages", json={"partner_id": partner, "status": status, **fields})
    response.raise_for_status()
    return str(response.json()["id"])
