"""The live API against its own OpenAPI document: schemathesis with every check and phase
(examples, coverage, fuzzing, stateful) finds nothing.

The API runs as its own process on the suite's Redis (a database of its own, so no worker
of the suite picks up its jobs) and simulator, as a partner of its own, with a rate limit
far above what the fuzzer sends. What schemathesis may not expect from the document alone
is in ``schemathesis.toml``, each exception with its reason. Seeded and deterministic.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_token
from tests.support.processes import ROOT, ApiServer, ManagedProcess

SEED = 20261128
MAX_EXAMPLES = 12
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def fuzz_api(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    redis_url = bff_env["BFF_REDIS_URL"].rsplit("/", 1)[0] + "/9"
    env = {
        **bff_env,
        "BFF_REDIS_URL": redis_url,
        "BFF_RATE_LIMIT_RPS": "100000",
        "BFF_RATE_LIMIT_BURST": "100000",
        "BFF_CORS_ORIGINS": "",
    }
    api = ApiServer("api-fuzz", env).start()
    yield api
    api.close()  # fails when the API ever reached its 500 handler


def seed_resources(api: ApiServer, simulator: ManagedProcess, partner: str, token: str) -> dict[str, str]:
    """Real resources for the operations that need one: a DONE package with clusters, an
    EXPIRED one, a complete draft, a webhook endpoint with a delivery."""
    headers = {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
    with httpx.Client(timeout=30) as sim, httpx.Client(base_url=api.url, headers=headers, timeout=30) as bff:
        packages = {}
        for status in ("DONE", "EXPIRED"):
            made = sim.post(
                f"{simulator.url}/_sim/packages",
                json={"partner_id": partner, "status": status, "clusters": ["AC/DC fans", "Jazz"]},
            )
            packages[status] = made.raise_for_status().json()["id"]
        draft = bff.post(
            "/v1/drafts",
            json={
                "step": "preview",
                "state": {"title": "Munich shows Q3", "event_ids": [12345], "targeting_mode": "lookalike"},
            },
        ).raise_for_status()
        endpoint = bff.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["package.done"]}
        ).raise_for_status()
        endpoint_id = endpoint.json()["id"]
        delivery = bff.post(f"/v1/webhooks/{endpoint_id}/test").raise_for_status()
    return {
        "BFF_FUZZ_DONE_PACKAGE": packages["DONE"],
        "BFF_FUZZ_EXPIRED_PACKAGE": packages["EXPIRED"],
        "BFF_FUZZ_DRAFT": draft.json()["id"],
        "BFF_FUZZ_ENDPOINT": endpoint_id,
        "BFF_FUZZ_DELIVERY": delivery.json()["id"],
    }


@pytest.mark.timeout(240)
def test_schemathesis_finds_nothing_against_the_live_api(fuzz_api: ApiServer, simulator: ManagedProcess):
    partner = "fuzz-" + uuid.uuid4().hex[:8]
    token = make_token(sub="fuzzer", partners=[partner])
    env = {
        **os.environ,
        "BFF_FUZZ_TOKEN": token,
        "BFF_FUZZ_PARTNER": partner,
        **seed_resources(fuzz_api, simulator, partner, token),
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(ROOT / "schemathesis.toml"),
            "run",
            f"{fuzz_api.url}/openapi.json",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--no-color",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=220,
    )
    took = time.monotonic() - started
    assert result.returncode == 0, (
        f"schemathesis found problems ({took:.0f} s):\n{result.stdout}\n{result.stderr}"
    )
