"""The kit's single flight and locks with a token, on their own (the cache, the kept list and
the poll schedule use them; their own tests show the behaviour through them)."""

from __future__ import annotations

import asyncio

from app.kit.flights import SingleFlight
from app.kit.locks import TokenLocks, new_token


async def test_callers_of_one_key_share_one_run_and_a_cancelled_one_does_not_stop_it():
    flights: SingleFlight[str, int] = SingleFlight()
    runs = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal runs
        runs += 1
        await release.wait()
        return 7

    callers = [asyncio.create_task(flights.join("k", work)) for _ in range(3)]
    await asyncio.sleep(0)  # every caller has joined (none can finish before ``release``)
    callers[0].cancel()
    release.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [7, 7]
    assert runs == 1
    assert flights.running("k") is None  # landed: the next caller starts a new run
    assert await flights.join("k", work) == 7 and runs == 2


async def test_a_flights_error_is_every_callers():
    flights: SingleFlight[str, int] = SingleFlight()

    async def failing() -> int:
        await asyncio.sleep(0)
        raise LookupError("upstream said no")

    results = await asyncio.gather(*(flights.join("k", failing) for _ in range(2)), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError, LookupError]
    assert results[0] is results[1]


async def test_only_the_holder_of_a_lock_releases_it(redis):
    locks = TokenLocks(redis)
    key, mine, theirs = f"test:lock:{new_token()}", new_token(), new_token()
    assert await locks.acquire(key, mine, lease_ms=10_000)
    assert not await locks.acquire(key, theirs, lease_ms=10_000)
    assert not await locks.release(key, theirs)
    assert await locks.held(key)
    assert await locks.release(key, mine)
    assert not await locks.held(key)


def test_tokens_do_not_repeat():
    assert len({new_token() for _ in range(100)}) == 100
