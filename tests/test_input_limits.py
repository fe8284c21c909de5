"""Every input has its limits written in the document, and the API enforces each one it
writes: one past the limit is a 422 naming the input, never a 500 and never accepted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.api.openapi_export import openapi_document

DOCUMENT = openapi_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
METHODS = {"get", "put", "post", "patch", "delete"}


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return SCHEMAS[ref.rsplit("/", 1)[1]] if ref.startswith("#/components/schemas/") else schema


def _walk(
    schema: dict[str, Any], where: str, seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict]]:
    """Every schema a client's input is checked against, ``$ref``s followed once each."""
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return
        seen |= {ref}
        schema = _resolved(schema)
    yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for index, branch in enumerate(schema.get(key, [])):
            yield from _walk(branch, f"{where}/{key}/{index}", seen)
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{where}/items", seen)
    for name, child in schema.get("properties", {}).items():
        yield from _walk(child, f"{where}/{name}", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{where}/*", seen)


def _inputs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for parameter in operation.get("parameters", []):
                yield from _walk(
                    parameter["schema"], f"{method} {path} {parameter['in']}:{parameter['name']}"
                )
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield from _walk(media["schema"], f"{method} {path} body")


def test_every_input_has_its_limits_written():
    """What Spectral's OWASP rules ask of inputs (clients/typescript/lint/.spectral.yaml), checked
    without Node: strings have a maxLength (or an enum/const), arrays maxItems, integers both
    bounds and a format."""
    missing = []
    for where, schema in _inputs():
        kind = schema.get("type")
        if kind == "string" and not {"maxLength", "enum", "const"} & schema.keys():
            missing.append(f"{where}: maxLength")
        elif kind == "array" and "maxItems" not in schema:
            missing.append(f"{where}: maxItems")
        elif kind == "integer" and not {"minimum", "maximum", "format"} <= schema.keys():
            missing.append(f"{where}: minimum, maximum, format")
    assert not missing, "\n".join(missing)


def _assert_refused(response, name: str) -> None:
    assert response.status_code == 422, response.text
    assert name in response.text


async def test_a_list_filter_names_each_status_at_most_once_each(api):
    statuses = ["DONE", "FAILED", "EXPIRED", "INPROGRESS", "INITIALIZING"]
    ok = await api.get("/v1/packages", params={"status": statuses, "limit": 1})
    assert ok.status_code == 200, ok.text
    _assert_refused(await api.get("/v1/packages", params={"status": [*statuses, "DONE"]}), "status")


async def test_entity_tag_headers_over_their_limit_are_refused(api):
    long_tags = ", ".join(f'"v{n}"' for n in range(300))  # > 1024 characters
    assert len(long_tags) > 1024
    _assert_refused(
        await api.get("/v1/drafts/some-draft", headers={"If-None-Match": long_tags}), "if-none-match"
    )
    refused = await api.put(
        "/v1/packages/pkg_1/evaluation",
        headers={"If-Match": long_tags},
        json={"attribution_window_days": 14, "model": "EVENTS_FROM_PACKAGE"},
    )
    _assert_refused(refused, "if-match")


async def test_a_package_streams_last_event_id_over_its_limit_is_refused(api):
    _assert_refused(
        await api.get("/v1/packages/pkg_1/events", headers={"Last-Event-ID": "1" * 21}), "Last-Event-ID"
    )


async def test_a_webhook_subscribes_to_at_most_every_event_type(api):
    refused = await api.post(
        "/v1/webhooks", json={"url": "https://hooks.example/bff", "event_types": ["package.done"] * 7}
    )
    _assert_refused(refused, "event_types")


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"included_customers": [10**18]}, "included_customers"),
        ({"excluded_customers": ["c" * 257]}, "excluded_customers"),
        ({"exclude_ticket_categories": ["V" * 201]}, "exclude_ticket_categories"),
    ],
)
async def test_create_filters_over_their_limits_are_refused(api, filters: dict[str, Any], field: str):
    body = {"title": "Limits", "event_ids": [12345], "targeting_mode": "lookalike", "filters": filters}
    _assert_refused(await api.post("/v1/packages", json=body), field)


async def test_a_date_time_over_its_length_is_refused(api):
    since = "2026-11-28T08:00:00." + "0" * 50 + "Z"
    _assert_refused(await api.post("/v1/webhooks/ep_1/recover", json={"since": since}), "since")
