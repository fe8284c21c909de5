"""A SIGTERMed API ends its event streams at once and drains, instead of holding open
streams until its grace period runs out and then cutting them off (or, under uvicorn's CLI
without --timeout-graceful-shutdown, forever): whichever way it was started. Compose and
Kubernetes run the image's CMD unchanged (`make deploy-check` fails otherwise)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from app.kit.shutdown import on_termination
from tests.conftest import make_token
from tests.support.processes import API_LAUNCHERS, ApiServer
from tests.support.sim import make_package
from tests.support.sse import STREAM_TIMEOUT, EventReader, expect_stream


@pytest.mark.parametrize("launcher", API_LAUNCHERS)
async def test_sigterm_ends_open_streams_cleanly_and_the_api_exits(launcher, bff_env, sim, partner):
    api = ApiServer("api-shutdown", bff_env, log_level="info", launcher=launcher).start()
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
                client.stream("GET", f"/v1/packages/{package_id}/events", timeout=STREAM_TIMEOUT)
            )
            await expect_stream(response)
            readers.append(EventReader(response))
        yield readers


async def test_the_hook_runs_before_the_servers_own_handler_and_leaves_it_in_place():
    """What uvicorn installs for SIGTERM still runs (it starts the graceful shutdown), after
    the streams were told to end; leaving the block puts the server's handler back."""
    ended = asyncio.Event()
    seen: list[int] = []

    def servers_handler(signum: int, frame: object) -> None:
        seen.append(signum)

    before = signal.signal(signal.SIGTERM, servers_handler)
    try:
        with on_termination(ended.set):
            signal.raise_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await ended.wait()
        assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is servers_handler
    finally:
        signal.signal(signal.SIGTERM, before)


async def test_a_signal_nobody_handles_is_left_to_its_default():
    """With SIGTERM's default action the process dies at once: there is nothing to chain."""
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with on_termination(lambda: None):
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)
