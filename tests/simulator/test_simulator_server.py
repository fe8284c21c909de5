"""The simulator behind a real uvicorn on a real socket: path decoding, dropped connections, big CSVs."""

import csv
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
TRICKY_TCS = ["family_outings_munich", "Rock & Roll", "AC/DC fans", "100% locals",
              "Münchner Kindl", "jazz brunch", "a?b#c"]  # fmt: skip
AUTH = {"Authorization": "Bearer any-token", "X-Preferred-Partner-Id": "p1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, str]]:
    """`serve()` in a child process, so its memory is its own and uvicorn decodes paths for real."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("simulator") / "simulator.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIM_BUILD_SECONDS": "3600"}
    code = f"from app.simulator.server import serve; serve(port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, "simulator exited during start-up"
        try:
            httpx.get(f"{base_url}/_sim/config", timeout=1).raise_for_status()
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "simulator did not start within 30 s"
            time.sleep(0.05)
    yield process, base_url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture
def base_url(sim_process: tuple[subprocess.Popen, str]) -> str:
    _, url = sim_process
    httpx.post(f"{url}/_sim/reset").raise_for_status()
    return url


async def make_package(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/_sim/packages", json={"partner_id": "p1", "status": "DONE", **fields})
    response.raise_for_status()
    return dict(response.json())


async def add_fault(client: httpx.AsyncClient, **fault: Any) -> None:
    (await client.post("/_sim/faults", json=fault)).raise_for_status()


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Upstream calls carry the auth headers; the control endpoints ignore them."""
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=120) as client:
        yield client


def csv_path(package_id: str, tc: str) -> str:
    return f"/package_builder/packages/{package_id}/{quote(tc, safe='')}/customer_list"


def peak_rss_bytes(pid: int) -> int | None:
    """VmHWM (peak resident set) of a process, where /proc exists."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


async def test_tricky_names_round_trip_through_uvicorn(client: httpx.AsyncClient) -> None:
    package = await make_package(client, clusters=TRICKY_TCS, customers_per_cluster=321)
    for index, tc in enumerate(TRICKY_TCS):
        response = await client.get(csv_path(package["id"], tc))
        assert response.status_code == 200, (tc, response.text)
        rows = list(csv.reader(io.StringIO(response.text)))
        assert len(rows) == 1 + 321, tc
        assert rows[1][0] == f"cust_{package['id']}_{index}_000000000"


async def test_an_unencoded_slash_in_tc_is_404(client: httpx.AsyncClient) -> None:
    package = await make_package(client, clusters=["AC/DC fans"])
    bare = await client.get(f"/package_builder/packages/{package['id']}/AC/DC%20fans/customer_list")
    assert bare.status_code == 404
    assert (await client.get(csv_path(package["id"], "AC/DC fans"))).status_code == 200


async def test_disconnect_fault_drops_the_connection_without_an_answer(client: httpx.AsyncClient) -> None:
    await add_fault(client, route="list_packages", mode="disconnect", count=1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await client.get("/package_builder/packages/")
    assert (await client.get("/package_builder/packages/")).status_code == 200
    stats = (await client.get("/_sim/stats")).json()
    assert stats["requests"]["list_packages"] == 2


async def test_truncate_fault_cuts_the_csv_mid_body(client: httpx.AsyncClient) -> None:
    package = await make_package(client, clusters=["Rock & Roll"], customers_per_cluster=100_000)
    await add_fault(client, route="get_customer_list", mode="truncate", after_bytes=200_000, count=1)
    received = 0
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("GET", csv_path(package["id"], "Rock & Roll")) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                received += len(chunk)
    assert received == 200_000
    whole = await client.get(csv_path(package["id"], "Rock & Roll"))
    assert whole.text.count("\n") == 100_001


async def test_a_client_leaving_mid_download_does_not_hurt_the_server(client: httpx.AsyncClient) -> None:
    package = await make_package(client, clusters=["jazz brunch"], customers_per_cluster=5_000_000)
    async with client.stream("GET", csv_path(package["id"], "jazz brunch")) as response:
        async for _ in response.aiter_bytes():
            break
    assert (await client.get("/package_builder/packages/")).status_code == 200


async def test_a_huge_cluster_streams_exactly_in_constant_memory(
    client: httpx.AsyncClient, sim_process: tuple[subprocess.Popen, str]
) -> None:
    rows = 2_000_000
    package = await make_package(client, clusters=["100% locals"], customers_per_cluster=rows)
    warm_up = await make_package(client, clusters=["warm"])
    await client.get(csv_path(warm_up["id"], "warm"))
    peak_before = peak_rss_bytes(sim_process[0].pid)
    newlines = size = 0
    async with client.stream("GET", csv_path(package["id"], "100% locals")) as response:
        assert response.status_code == 200
        expected_size = int(response.headers["content-length"])
        async for chunk in response.aiter_bytes():
            newlines += chunk.count(b"\n")
            size += len(chunk)
    assert newlines == rows + 1 and size == expected_size > 100_000_000
    peak_after = peak_rss_bytes(sim_process[0].pid)
    if peak_before is not None and peak_after is not None:
        assert peak_after - peak_before < 32 * 1024 * 1024, "the simulator buffered the body"
