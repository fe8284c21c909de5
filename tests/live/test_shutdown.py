"""A SIGTERMed API ends its event streams at once and drains, instead of holding open
streams until its grace period runs out and then cutting them off."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import httpx

from tests.conftest import make_token
from tests.support.processes import ApiServer
from tests.support.sim import make_package
from tests.support.sse import EventReader


async def test_sigterm_ends_open_streams_cleanly_and_the_api_exits(bff_env, sim, partner):
    api = ApiServer("api-shutdown", bff_env, log_level="info").start()
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    packages = [await make_package(sim, partner, "INPROGRESS") for _ in range(3)]
    try:
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
            async with open_streams(client, [p["id"] for p in packages]) as readers:
                for reader in readers:
                    assert (await reader.event()).json()["status"] == "INPROGRESS"
                assert api.process is not None
                api.process.send_signal(signal.SIGTERM)
                # Each stream ends as a complete response (no broken transfer), with no
                # further status: EventSource simply reconnects to another replica.
                rests = await asyncio.gather(*(reader.rest() for reader in readers))
                assert rests == [[], [], []]
        # uvicorn re-raises the SIGTERM it caught once it has shut down gracefully.
        assert await asyncio.to_thread(api.process.wait, 30) in (0, -signal.SIGTERM)
    finally:
        api.close()
    log = api.log()
    assert "Finished server process" in log, log[-3000:]
    assert "timeout graceful shutdown exceeded" not in log, log[-3000:]


@contextlib.asynccontextmanager
async def open_streams(client: httpx.AsyncClient, package_ids: list[str]) -> AsyncIterator[list[EventReader]]:
    """Several event streams open at once, closed together."""
    async with contextlib.AsyncExitStack() as stack:
        readers = []
        for package_id in package_ids:
            response = await stack.enter_async_context(
                client.stream("GET", f"/v1/packages/{package_id}/events")
            )
            assert response.status_code == 200
            readers.append(EventReader(response))
        yield readers
