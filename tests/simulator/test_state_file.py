"""``SIM_STATE_FILE``: a simulator started again on its file has every package, partner,
evaluation setting and export of the last run, and never hands out an id twice (not even
after ``/_sim/reset``); a fresh file starts its ids from the clock."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from app.simulator.app import create_app
from app.simulator.catalog import WALKTHROUGH_CLUSTER
from app.simulator.settings import SimulatorSettings
from tests.simulator.test_simulator import VALID_CREATE, auth


def _client(state_file: Path) -> httpx.AsyncClient:
    app = create_app(SimulatorSettings(state_file=state_file, build_seconds=0))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


async def _ids(client: httpx.AsyncClient) -> list[str]:
    answer = (await client.get("/package_builder/packages/", headers=auth())).json()
    return sorted(package["id"] for package in answer)


async def test_a_restarted_simulator_keeps_its_packages_and_never_reuses_an_id(tmp_path):
    state = tmp_path / "simulator.json"
    before = int(time.time())
    async with _client(state) as client:
        created = await client.post("/package_builder/packages", json=VALID_CREATE, headers=auth())
        first = created.json()["id"]
        assert int(first) >= before, "a fresh file starts its ids from the clock"
        ids = await _ids(client)
        package = (await client.get(f"/package_builder/packages/{first}", headers=auth())).json()
        assert WALKTHROUGH_CLUSTER in package["content"]
        export = {"crm_name": "hubspot", "secret_id": "s", "container_name": "c", "packageId": first}
        exported = await client.post("/exports", json={**export, "tc": WALKTHROUGH_CLUSTER}, headers=auth())
        assert exported.status_code == 202, exported.text

    async with _client(state) as client:
        assert await _ids(client) == ids
        again = (await client.get(f"/package_builder/packages/{first}", headers=auth())).json()
        assert again == package
        exports = (await client.get("/_sim/exports")).json()["exports"]
        assert [item["packageId"] for item in exports] == [first]
        assert (await client.post("/_sim/reset")).status_code == 204
        second = (await client.post("/package_builder/packages", json=VALID_CREATE, headers=auth())).json()[
            "id"
        ]
        assert int(second) > max(int(package_id) for package_id in ids)
