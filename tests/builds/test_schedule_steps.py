"""The poll schedule is written in calls of its own beside a partner's watches (on a Redis
Cluster its shard and the partner's keys are two slots, and no script touches two). Each test
lets a process run the first step of one of those sequences and die before the next (a
``Crash`` raised where the process would have been killed), or runs another process's steps
in between, and shows the state converging: at worst a partner is scheduled without watches,
and the next poll of it takes it off. Checks storage: the schedule is what these steps write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.builds import keys as build_keys
from app.builds.poller import Poller
from app.builds.registry import WatchRegistry
from app.kit.keyspace import shard_key
from app.kit.settings import Settings
from tests.support.watches import poller_on, watched


class Crash(Exception):
    """The process dies here."""


def crash_after(step: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        await step(*args, **kwargs)
        raise Crash

    return run


async def dies(*_: Any) -> None:
    raise Crash


async def scheduled(store: Redis, partner: str) -> bool:
    return await store.zscore(shard_key(build_keys.WATCH_PARTNERS, partner), partner) is not None


@pytest.fixture
async def poller(store: Redis, private_env: dict[str, str]) -> AsyncIterator[Poller]:
    """A surviving worker's poller: no worker process runs on the private database here."""
    async with poller_on(store, Settings(redis_url=private_env["BFF_REDIS_URL"])) as running:
        yield running


async def next_poll(poller: Poller, partner: str) -> None:
    """What the partner's next claim leads to (the partner is due: the schedule says so)."""
    assert await poller.schedule.claim(partner, poller.holder, interval_s=60, lease_s=30, take_back=True)
    try:
        await poller.poll_partner(partner)
    finally:
        await poller.schedule.release(partner, poller.holder)


async def test_killed_after_scheduling_a_partner_and_before_writing_its_watch(
    store, poller, partner, monkeypatch
):
    """Open: the partner joins the schedule first. Killed then, the process leaves a partner
    scheduled without watches; its next poll takes it off."""
    registry = WatchRegistry(store)
    monkeypatch.setattr(registry.schedule, "add", crash_after(registry.schedule.add))
    with pytest.raises(Crash):
        await registry.open(partner, "1", reason="create")
    assert await scheduled(store, partner) and await watched(store, partner) == []

    await next_poll(poller, partner)

    assert not await scheduled(store, partner)


async def test_killed_after_writing_a_watch_and_before_scheduling_its_partner_again(
    store, poller, partner, monkeypatch
):
    """Open, first watch of the partner: scheduled, written, then scheduled again (for a
    removal that raced in between). Killed before the last step, the partner is scheduled
    already, and its watch is polled."""
    registry, adds = WatchRegistry(store), 0
    schedule = registry.schedule.add

    async def add(partner_id: str) -> None:
        nonlocal adds
        adds += 1
        if adds == 2:
            raise Crash
        await schedule(partner_id)

    monkeypatch.setattr(registry.schedule, "add", add)
    with pytest.raises(Crash):
        await registry.open(partner, "1", reason="create")
    assert adds == 2
    assert await scheduled(store, partner) and await watched(store, partner) == ["1"]
    assert partner in (await poller.schedule.due(1000)).partners


async def test_killed_after_closing_the_last_watch_and_before_leaving_the_schedule(
    store, poller, partner, monkeypatch
):
    """Close: the watch first, then (none left) the schedule. Killed between, the process
    leaves a partner scheduled without watches; its next poll takes it off."""
    registry = WatchRegistry(store)
    await registry.open(partner, "1", reason="create")
    [watch] = await registry.watches(partner)
    monkeypatch.setattr(registry, "leave_schedule", dies)
    with pytest.raises(Crash):
        await registry.close(watch)
    assert await scheduled(store, partner) and await watched(store, partner) == []

    await next_poll(poller, partner)

    assert not await scheduled(store, partner)


async def test_killed_after_finishing_the_last_watch_and_before_leaving_the_schedule(
    store, poller, partner, monkeypatch
):
    """Finish: the marker and the watch in one step, then the schedule. Killed between, the
    event is marked once and the partner's next poll takes it off the schedule."""
    registry = WatchRegistry(store)
    await registry.open(partner, "1", reason="create")
    [watch] = await registry.watches(partner)
    monkeypatch.setattr(registry, "leave_schedule", dies)
    with pytest.raises(Crash):
        await registry.finish(watch, "DONE")
    assert await store.exists(build_keys.emitted_event(partner, "1", "DONE", watch.generation))
    assert await scheduled(store, partner) and await watched(store, partner) == []

    await next_poll(poller, partner)

    assert not await scheduled(store, partner)
    assert await WatchRegistry(store).finish(watch, "DONE") is False  # a repeat marks nothing


async def test_a_partner_leaving_the_schedule_between_the_steps_of_an_open_is_scheduled_again(
    store, poller, partner, monkeypatch
):
    """Another process takes the partner off the schedule (its last watch closed) after an
    open scheduled it and before the open wrote its watch: the open, finding the partner
    without watches, schedules it again."""
    opener, closer = WatchRegistry(store), WatchRegistry(store)
    await closer.open(partner, "old", reason="create")
    [old] = await closer.watches(partner)
    schedule = opener.schedule.add

    async def add_then_close_elsewhere(partner_id: str) -> None:
        monkeypatch.setattr(opener.schedule, "add", schedule)
        await schedule(partner_id)
        await closer.close(old)  # the last watch: the closer takes the partner off
        assert not await scheduled(store, partner)

    monkeypatch.setattr(opener.schedule, "add", add_then_close_elsewhere)
    await opener.open(partner, "new", reason="create")

    assert await scheduled(store, partner) and await watched(store, partner) == ["new"]


async def test_a_watch_opened_while_a_partner_leaves_the_schedule_puts_it_back(
    store, poller, partner, monkeypatch
):
    """The other order: the closer saw no watch, then an open ran entirely, then the closer
    takes the partner off; its second look finds the watch and schedules the partner again."""
    opener, closer = WatchRegistry(store), WatchRegistry(store)
    await opener.schedule.add(partner)  # a partner whose last watch just closed
    remove = closer.schedule.remove

    async def open_then_remove(partner_id: str) -> None:
        await opener.open(partner, "new", reason="create")
        await remove(partner_id)

    monkeypatch.setattr(closer.schedule, "remove", open_then_remove)
    await closer.forget_if_idle(partner)

    assert await scheduled(store, partner) and await watched(store, partner) == ["new"]


async def test_killed_after_taking_a_partners_turn_and_before_its_lock(store, poller, partner, monkeypatch):
    """Claim: the turn (the due time moves an interval on), then the lock. Killed between,
    the process took no lock: the partner is claimed at its next turn, an interval later."""
    await WatchRegistry(store).open(partner, "1", reason="create")
    schedule = poller.schedule
    dying = WatchRegistry(store).schedule
    monkeypatch.setattr(dying, "take_turn", crash_after(dying.take_turn))
    with pytest.raises(Crash):
        await dying.claim(partner, "dying", interval_s=0.3, lease_s=30, take_back=True)
    assert not await store.exists(build_keys.watch_poll_lock(partner))
    assert not await schedule.claim(partner, poller.holder, interval_s=0.3, lease_s=30, take_back=True)

    await asyncio.sleep(0.4)

    assert await schedule.claim(partner, poller.holder, interval_s=0.3, lease_s=30, take_back=True)
    await schedule.release(partner, poller.holder)
