"""The dev stack loses nothing across restarts: run twice on one data directory (its Redis,
its secrets, the simulator's state), every build's DONE webhook arrives, verified, in both
runs; ids are never handed out again (the BFF's markers and exports of the first run stay
with the first run's packages), and a token of the first run works in the second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from app.auth.tokens import issue_token
from tests.support.devstack import HookReceiver, dev_stack
from tests.support.processes import ROOT

CREATE = {"title": "Munich shows Q3", "event_ids": [12345, 23456], "targeting_mode": "lookalike"}
EXPORT = {"crm_name": "hubspot", "secret_id": "sec_1", "container_name": "Munich Q3"}


def _create(api: httpx.Client) -> str:
    created = api.post("/v1/packages", json=CREATE)
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def _mint(data_dir: Path) -> str:
    """``python -m app token`` with no BFF_JWT_SECRET: it signs with the dev stack's kept secret."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BFF_")}
    argv = [sys.executable, "-m", "app", "token", "--partner", "demo-partner", "--data-dir", str(data_dir)]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_a_restarted_dev_stack_keeps_its_tokens_ids_and_sends_every_done_webhook(tmp_path):
    receiver = HookReceiver()
    try:
        with dev_stack(tmp_path) as (stack, headers):
            api = httpx.Client(base_url=f"http://127.0.0.1:{stack.api_port}", headers=headers, timeout=30)
            endpoint = api.post("/v1/webhooks", json={"url": receiver.url, "event_types": ["package.done"]})
            assert endpoint.status_code == 201, endpoint.text  # a loopback receiver: dev allows it
            secret = endpoint.json()["secret"]
            first = _create(api)
            receiver.wait_for("package.done", first, secret)
            exported = api.post(f"/v1/packages/{first}/clusters/AC%2FDC%20fans/exports", json=EXPORT)
            assert exported.status_code == 202, exported.text  # every build has the README's cluster
            assert stack.stop(signal.SIGTERM) == 0

        with dev_stack(tmp_path) as (stack, _):
            api = httpx.Client(base_url=f"http://127.0.0.1:{stack.api_port}", headers=headers, timeout=30)
            assert api.get("/v1/packages").status_code == 200, "the first run's token still works"
            minted = {**headers, "Authorization": f"Bearer {_mint(tmp_path)}"}
            assert api.get("/v1/packages", headers=minted).status_code == 200
            second = _create(api)
            assert int(second) > int(first), "an id of the first run was handed out again"
            assert first in [item["id"] for item in api.get("/v1/packages").json()["items"]]
            receiver.wait_for("package.done", second, secret)
            assert api.get("/v1/exports", params={"package_id": second}).json()["items"] == []
            assert len(api.get("/v1/exports", params={"package_id": first}).json()["items"]) == 1

            stale = issue_token("another-secret-" + "x" * 32, sub="dev-user", partners=["demo-partner"])
            refused = api.get("/v1/packages", headers={"Authorization": f"Bearer {stale}"})
            assert refused.status_code == 401 and "python -m app token" in refused.json()["detail"]
            assert stack.stop(signal.SIGTERM) == 0
    finally:
        receiver.close()
