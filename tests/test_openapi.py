"""The committed OpenAPI documents are the contract: they must match the code."""

from __future__ import annotations

from pathlib import Path

from app.api.openapi_export import openapi_document, render
from app.webhooks.events import EVENT_MODELS

ROOT = Path(__file__).resolve().parents[1]


def test_committed_openapi_matches_the_app():
    committed = (ROOT / "openapi" / "bff.json").read_text(encoding="utf-8")
    assert committed == render(), "openapi/bff.json is stale: run `make openapi` and commit it"


def test_every_route_has_a_verb_resource_operation_id():
    operations = [op for path in openapi_document()["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)), "operation ids must be unique"
    assert all(
        "_" in op_id
        and op_id.split("_")[0]
        in {
            "list",
            "get",
            "create",
            "merge",
            "update",
            "regenerate",
            "download",
            "search",
            "resolve",
            "delete",
            "submit",
            "patch",
            "replace",
            "rotate",
            "send",
            "redeliver",
            "recover",
            "stream",
            "watch",
            "poll",  # a named activity consumer: the next page, its position moved past it
            "seek",
        }
        for op_id in ids
    ), ids


def test_upstream_description_is_committed():
    text = (ROOT / "openapi" / "upstream.yaml").read_text(encoding="utf-8")
    for path in (
        "/package_builder/packages/",
        "/package_builder/packages/merge",
        "/backhaul_evaluation_details",
        "/customer_list",
        "/nlq/ids_from_nl_description",
    ):
        assert path in text


def test_every_documented_error_is_a_problem_json():
    document = openapi_document()
    assert "Problem" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if operation["operationId"] == "get_readiness" and code == "503":
                    continue  # a load balancer's probe: its body is the readiness report
                if code.startswith(("4", "5")):
                    assert list(response.get("content", {})) == ["application/problem+json"], (
                        method,
                        path,
                        code,
                    )


def test_the_webhooks_section_has_every_event_type_with_its_model():
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    assert set(document["webhooks"]) == set(EVENT_MODELS)
    for event_type, model in EVENT_MODELS.items():
        operation = document["webhooks"][event_type]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert schema["properties"]["type"]["const"] == event_type, model
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}


async def test_docs_are_served_without_a_cdn(anonymous):
    for page in ("/docs", "/redoc"):
        html = (await anonymous.get(page)).text
        scripts = [part.split('"')[1] for part in html.split("src=")[1:]]
        assert scripts and all(src.startswith("/") for src in scripts), (page, scripts)
        for src in scripts:
            assert (await anonymous.get(src)).status_code == 200
