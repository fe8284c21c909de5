"""Every error is RFC 9457 problem+json, including the framework's own; never a 500."""

from __future__ import annotations

import pytest

from tests.support.sim import add_fault, make_package

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= body.keys()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_is_a_404_problem(api):
    assert_problem(await api.get("/v1/nothing-here"), 404)


async def test_wrong_method_is_a_405_problem(api):
    assert_problem(await api.delete("/v1/packages"), 405)


async def test_a_405_lists_every_method_the_path_takes(api):
    """``GET`` and ``POST /v1/packages`` are two routes; ``Allow`` names both."""
    response = await api.put("/v1/packages")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD", "POST"}
    draft = await api.post("/v1/drafts/some-id")
    assert {m.strip() for m in draft.headers["Allow"].split(",")} == {"DELETE", "GET", "HEAD", "PATCH", "PUT"}


async def test_invalid_json_is_a_422_problem_with_field_errors(api):
    body = assert_problem(
        await api.post("/v1/packages", content=b"{not json", headers={"content-type": "application/json"}),
        422,
    )
    assert body["errors"]


async def test_incoming_request_id_is_echoed_and_relayed(api):
    response = await api.get("/v1/nothing-here", headers={"X-Request-ID": "trace-abc.1"})
    assert response.headers["x-request-id"] == "trace-abc.1"
    assert response.json()["request_id"] == "trace-abc.1"


async def test_unsafe_request_id_is_replaced(api):
    unsafe = "a b\u00e9".encode("latin-1") * 100
    response = await api.get("/healthz", headers={"X-Request-ID": unsafe})
    assert response.headers["x-request-id"] != unsafe.decode("latin-1")
    assert len(response.headers["x-request-id"]) == 32


async def test_upstream_404_stays_404(api):
    body = assert_problem(await api.get("/v1/packages/999999999"), 404)
    assert body["instance"] == "/v1/packages/999999999"


async def test_another_partners_package_is_404(api, sim):
    other = await make_package(sim, "someone-else", "DONE")
    assert_problem(await api.get(f"/v1/packages/{other['id']}"), 404)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_upstream_5xx_becomes_502(api, sim, partner, status):
    await add_fault(sim, "list_packages", partner, status=status, rate=1.0)
    assert_problem(await api.get("/v1/packages"), 502)


async def test_upstream_disconnect_becomes_502(api, sim, partner):
    await add_fault(sim, "list_packages", partner, mode="disconnect", rate=1.0)
    assert_problem(await api.get("/v1/packages"), 502)


async def test_upstream_timeout_becomes_504(api, sim, partner):
    await add_fault(sim, "list_packages", partner, latency_ms=5000, mode="delay", rate=1.0)
    assert_problem(await api.get("/v1/packages"), 504)


async def test_malformed_upstream_answer_becomes_502(api, sim, partner):
    await add_fault(sim, "get_package", partner, mode="malformed", rate=1.0)
    body = assert_problem(await api.get("/v1/packages/1"), 502)
    assert "unexpected" in body["detail"]


async def test_transient_upstream_failure_is_retried_for_reads(api, sim, partner):
    await add_fault(sim, "list_packages", partner, status=503, rate=1.0, count=1)
    response = await api.get("/v1/packages")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/packages/%2E%2E",
        "/v1/packages/a%00b",
        "/v1/packages/" + "x" * 300,
        "/v1/packages?limit=0",
        "/v1/packages?limit=abc",
        "/v1/packages?status=BOGUS",
        "/v1/packages?cursor=%%%",
        "/v1/events?page=0",
        "/v1/events?since=yesterday",
        "/v1/events?since=0",
        "/v1/customers/resolve",
        "/v1/exports/" + "y" * 100,
    ],
)
async def test_bad_input_is_a_4xx_problem_never_500(api, path):
    response = await api.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded"])
async def test_a_json_body_sent_without_its_media_type_says_which_header_to_send(api, content_type):
    """curl's ``-d`` alone sends a form type; the body is then not read as JSON at all."""
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"title":"Munich shows Q3","event_ids":[12345],"targeting_mode":"lookalike"}'
    response = await api.post("/v1/packages", content=body, headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert "Content-Type: application/json" in problem["detail"]
    assert "Content-Type: application/json" in problem["errors"][0]["message"]
    sent = await api.post("/v1/drafts", content=b"[1]", headers={"Content-Type": "application/json"})
    assert sent.status_code == 422 and "Content-Type" not in sent.json()["detail"]
