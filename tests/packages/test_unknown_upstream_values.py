"""Values the guide does not name, sent by a real upstream (the simulator, answering exactly
these bodies): the API keeps to its enums and formats, logs and counts the odd value, and
answers 200, never a 500.

A status outside the guide's five reads as INPROGRESS (not known to have ended, as the
guide's poll loop treats it); an unknown attribution model, or a date that is none, reads
as null; another ISO 8601 spelling of ``created_at`` is rewritten as RFC 3339.
"""

from __future__ import annotations

import json
import uuid

from tests.support.metrics import samples, value
from tests.support.sim import add_fault, make_package

METRIC = "bff_upstream_unknown_values_total"


async def unknown_values(api_metrics, field: str) -> float:
    return value(samples((await api_metrics.get("/metrics")).text), METRIC, field=field)


def upstream_package(package_id: str, status: object, **fields: object) -> str:
    body = {"id": package_id, "title": "Odd", "status": status, "merge_id": None, "events": [], **fields}
    return json.dumps(body)


async def test_an_unknown_status_reads_as_inprogress_everywhere(api, sim, partner, api_metrics, api_server):
    package = await make_package(sim, partner, "DONE")
    odd = f"ARCHIVED_{uuid.uuid4().hex[:8]}"  # once per test: the API logs each odd value once
    body = upstream_package(package["id"], odd, created_at="2026-05-15T10:30:00Z", content={})
    await add_fault(sim, "get_package", partner, mode="malformed", body=body)
    before = await unknown_values(api_metrics, "status")

    status = await api.get(f"/v1/packages/{package['id']}/status")
    view = await api.get(f"/v1/packages/{package['id']}")

    assert status.status_code == 200 and status.json()["status"] == "INPROGRESS"
    assert view.status_code == 200
    shown = view.json()
    assert shown["status"] == "INPROGRESS" and shown["clusters"] == []
    assert not shown["actions"]["can_download"] and not shown["actions"]["can_regenerate"]
    assert await unknown_values(api_metrics, "status") >= before + 2
    assert f"upstream sent status '{odd}'" in api_server.log()


async def test_the_list_keeps_to_the_enum_and_to_rfc_3339(api, sim, partner, api_metrics):
    rows = [
        json.loads(upstream_package("u-1", "PAUSED", created_at="2026-05-15 10:30:00")),
        json.loads(upstream_package("u-2", 7, created_at="last tuesday")),
        json.loads(upstream_package("u-3", "DONE", created_at="2026-05-14T09:00:00+02:00")),
    ]
    await add_fault(sim, "list_packages", partner, mode="malformed", body=json.dumps(rows))
    before = await unknown_values(api_metrics, "created_at")

    page = await api.get("/v1/packages")
    building = await api.get("/v1/packages", params={"status": "INPROGRESS"})

    assert page.status_code == 200
    shown = {row["id"]: (row["status"], row["created_at"]) for row in page.json()["items"]}
    assert shown == {
        "u-1": ("INPROGRESS", "2026-05-15T10:30:00Z"),
        "u-2": ("INPROGRESS", None),
        "u-3": ("DONE", "2026-05-14T09:00:00+02:00"),
    }
    assert [row["id"] for row in building.json()["items"]] == ["u-1", "u-2"]
    assert await unknown_values(api_metrics, "created_at") >= before + 1


async def test_an_unknown_attribution_model_reads_as_null(api, sim, partner, api_metrics):
    package = await make_package(sim, partner, "DONE")
    details = {
        "backhaul_evaluation_attribution_window": 14,
        "backhaul_evaluation_model": "LAST_TOUCH",
        "email_sent_date": "2026-06-01T08:00:00Z",
    }
    await add_fault(sim, "get_evaluation_details", partner, mode="malformed", body=json.dumps(details))
    before = await unknown_values(api_metrics, "attribution_model")

    response = await api.get(f"/v1/packages/{package['id']}/evaluation")

    assert response.status_code == 200
    assert response.json()["settings"] == {
        "attribution_window_days": 14,
        "model": None,
        "email_sent_date": "2026-06-01",
    }
    assert await unknown_values(api_metrics, "attribution_model") >= before + 1
