"""CRM exports: accepted by the API, carried out by the real worker."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

from tests.support.sim import add_fault, make_package

BODY = {"crm_name": "hubspot", "secret_id": "sec_1", "container_name": "Munich Q3"}


async def wait_for_export(api, export_id: str, *, until: set[str], deadline_s: float = 30):
    """Poll the export's status (an observable condition) until it reaches ``until``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        export = (await api.get(f"/v1/exports/{export_id}")).json()
        if export["status"] in until or loop.time() > end:
            return export
        await asyncio.sleep(0.1)


def exports_path(package_id: str, tc: str) -> str:
    return f"/v1/packages/{package_id}/clusters/{quote(tc, safe='')}/exports"


async def test_export_reaches_the_data_integrations_layer(api, sim, partner, worker_process):
    package = await make_package(sim, partner, "DONE", clusters=["AC/DC fans"])
    response = await api.post(exports_path(package["id"], "AC/DC fans"), json=BODY)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "PENDING"
    assert response.headers["location"] == f"/v1/exports/{accepted['id']}"
    export = await wait_for_export(api, accepted["id"], until={"DONE", "FAILED"})
    assert export["status"] == "DONE", export
    received = (await sim.get("/_sim/exports", params={"partner_id": partner})).json()["exports"]
    assert len(received) == 1
    assert received[0]["tc"] == "AC/DC fans" and received[0]["packageId"] == package["id"]


async def test_export_retries_through_upstream_failures(api, sim, partner, worker_process):
    package = await make_package(sim, partner, "DONE", clusters=["retry me"])
    await add_fault(sim, "create_export", partner, status=503, count=2)
    response = await api.post(exports_path(package["id"], "retry me"), json=BODY)
    export = await wait_for_export(api, response.json()["id"], until={"DONE", "FAILED"})
    assert export["status"] == "DONE"
    assert [a["outcome"] for a in export["attempts"]] == ["error", "error", "accepted"]


async def test_export_rejected_by_the_layer_fails_with_its_reason(api, sim, partner, worker_process):
    package = await make_package(sim, partner, "DONE", clusters=["nope"])
    await add_fault(sim, "create_export", partner, status=400, count=1)
    response = await api.post(exports_path(package["id"], "nope"), json=BODY)
    export = await wait_for_export(api, response.json()["id"], until={"DONE", "FAILED"})
    assert export["status"] == "FAILED" and export["reason"]


async def test_export_of_unknown_cluster_is_404_and_of_building_package_409(api, sim, partner):
    done = await make_package(sim, partner, "DONE", clusters=["x"])
    assert (await api.post(exports_path(done["id"], "y"), json=BODY)).status_code == 404
    building = await make_package(sim, partner, "INPROGRESS")
    assert (await api.post(exports_path(building["id"], "x"), json=BODY)).status_code == 409


@pytest.mark.parametrize("body", [{}, {**BODY, "crm_name": ""}, {**BODY, "extra": 1}])
async def test_export_body_is_validated(api, sim, partner, body):
    done = await make_package(sim, partner, "DONE", clusters=["x"])
    assert (await api.post(exports_path(done["id"], "x"), json=body)).status_code == 422


async def test_another_partners_export_is_404(api, anonymous, sim, partner, worker_process):
    from tests.conftest import make_token

    package = await make_package(sim, partner, "DONE", clusters=["x"])
    export_id = (await api.post(exports_path(package["id"], "x"), json=BODY)).json()["id"]
    other = {
        "Authorization": f"Bearer {make_token(partners=['*'])}",
        "X-Preferred-Partner-Id": "another-partner",
    }
    assert (await anonymous.get(f"/v1/exports/{export_id}", headers=other)).status_code == 404


async def test_retried_export_with_the_same_key_starts_one_export(api, sim, partner, worker_process):
    package = await make_package(sim, partner, "DONE", clusters=["once"])
    headers = {"Idempotency-Key": "export-once-1"}
    first, second = await asyncio.gather(
        *(api.post(exports_path(package["id"], "once"), json=BODY, headers=headers) for _ in range(2))
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert "true" in (first.headers.get("idempotent-replayed"), second.headers.get("idempotent-replayed"))
    await wait_for_export(api, first.json()["id"], until={"DONE", "FAILED"})
    received = (await sim.get("/_sim/exports", params={"partner_id": partner})).json()["exports"]
    assert len(received) == 1
