"""The committed OpenAPI documents are the contract: they must match the code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_every_schema_has_one_name_and_its_own_title():
    """Generated clients name a class after a schema's title: two schemas with one title
    (FastAPI's ``-Input``/``-Output`` pair of one model name) make openapi-python-client drop
    both and everything that refers to them."""
    schemas = openapi_document()["components"]["schemas"]
    split = [name for name in schemas if name.endswith(("-Input", "-Output"))]
    assert not split, f"one model per meaning and name: {split}"
    mismatched = {
        name: schema.get("title") for name, schema in schemas.items() if schema.get("title") != name
    }
    assert not mismatched, mismatched


def _inline_enums(node: Any, path: str = "") -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every ``enum`` but the named ones (``components/schemas/<name>`` itself)."""
    if isinstance(node, dict):
        if "enum" in node and (not path.startswith("/components/schemas/") or path.count("/") > 3):
            yield path, tuple(node["enum"])
        for key, child in node.items():
            yield from _inline_enums(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _inline_enums(child, f"{path}/{index}")


def test_an_enum_is_named_once_and_referenced_everywhere():
    """A generated client makes a type of each inline enum: one defined in several places
    becomes several types that do not assign to each other."""
    document = openapi_document()
    named = {tuple(s["enum"]): name for name, s in document["components"]["schemas"].items() if "enum" in s}
    assert {"PackageStatus", "WebhookEventType", "DraftStep", "ExportStatus", "AttributionModel"} <= set(
        named.values()
    )
    seen: dict[tuple[Any, ...], str] = {}
    for path, values in _inline_enums({"paths": document["paths"], "components": document["components"]}):
        assert values not in named, f"{path} repeats {named[values]}: refer to it"
        assert len(values) == 1 or values not in seen, f"{path} repeats {seen[values]}: name it"
        seen[values] = path


def test_every_package_status_is_the_package_status_enum():
    document = openapi_document()
    schemas = document["components"]["schemas"]
    ref = {"$ref": "#/components/schemas/PackageStatus"}
    assert schemas["PackageStatus"]["enum"] == ["INITIALIZING", "INPROGRESS", "DONE", "FAILED", "EXPIRED"]
    for model in (
        "PackageSummary",
        "PackageView",
        "PackageStatusView",
        "PackageAccepted",
        "WatchView",
        "PackageStatusEvent",
        "PackageEventData",
    ):
        assert schemas[model]["properties"]["status"]["$ref"] == ref["$ref"], model
    [status] = [p for p in document["paths"]["/v1/packages"]["get"]["parameters"] if p["name"] == "status"]
    assert status["schema"]["items"] == ref
