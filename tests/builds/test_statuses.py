"""The status store's scripts: a poll's observations travel as a key and three arguments each,
and the script names each package's channel from its key; records read the same however
they were written. Checks storage: the key and channel names are what the scripts rely on."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given
from hypothesis import strategies as st

from app.builds import keys as build_keys
from app.builds.statuses import Observation, StatusRecord, StatusStore
from app.upstream.models import PackageHead

# Ids as hostile as a key may hold: quotes, slashes, backslashes, non-ASCII, spaces.
ODD_IDS = ["1", 'a"b', "x/y\\z", "ünïcødé", "with space", "~" + "9" * 70]


@given(partner=st.text(max_size=80), package=st.text(max_size=80))
def test_a_channel_named_from_its_key_is_the_packages_channel(partner: str, package: str) -> None:
    """What the scripts do: the channel prefix + the key without its prefix."""
    key = build_keys.package_status(partner, package)
    key_prefix = build_keys.package_status_prefix(partner)
    assert key.startswith(key_prefix)
    derived = build_keys.status_channel_prefix(partner) + key[len(key_prefix) :]
    assert derived == build_keys.status_channel(partner, package)


async def test_a_poll_stores_and_publishes_each_package_on_its_own_channel(redis, partner):
    statuses = StatusStore(redis)
    packages = [PackageHead(id=package_id, status="INPROGRESS", progress=40) for package_id in ODD_IDS]
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(*(build_keys.status_channel(partner, p.id) for p in packages))
        changed = await statuses.observe_many(
            partner, packages, observed_at_ms=await _redis_ms(redis), previous_poll_ms=None
        )
        published: dict[str, dict] = {}
        async with asyncio.timeout(10):
            while len(published) < len(packages):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    published[message["channel"]] = json.loads(message["data"])
    assert changed == len(packages)
    for package in packages:
        stored = await redis.get(build_keys.package_status(partner, package.id))
        assert published[build_keys.status_channel(partner, package.id)] == json.loads(stored)
        record = StatusRecord.parse(stored)
        assert (record.id, record.status, record.progress, record.seq) == (package.id, "INPROGRESS", 40, 1)


async def test_one_observation_and_a_polls_observations_follow_the_same_rules(redis, partner):
    """Unchanged: no new record; forward: the next seq; backward while running: ignored;
    an end with unknown progress: progress null, read back as the status implies."""
    statuses = StatusStore(redis)
    first = await statuses.observe(partner, Observation(ODD_IDS[1], "INPROGRESS", 10, await _redis_ms(redis)))
    assert (first.id, first.progress, first.seq) == (ODD_IDS[1], 10, 1)

    async def poll(status: str, progress: float | None) -> int:
        package = PackageHead(id=ODD_IDS[1], status=status, progress=progress)
        return await statuses.observe_many(
            partner, [package], observed_at_ms=await _redis_ms(redis), previous_poll_ms=None
        )

    assert await poll("INPROGRESS", 10) == 0
    assert await poll("INPROGRESS", 60) == 1
    assert await poll("INPROGRESS", 30) == 0  # a stale read of another observer
    assert await poll("INITIALIZING", None) == 0
    assert await poll("FAILED", None) == 1
    record = await statuses.get(partner, ODD_IDS[1])
    assert record is not None and (record.status, record.progress, record.seq) == ("FAILED", None, 3)
    again = await statuses.observe(partner, Observation(ODD_IDS[1], "FAILED", None, await _redis_ms(redis)))
    assert again == record


async def _redis_ms(redis) -> int:
    seconds, micros = await redis.time()
    return seconds * 1000 + micros // 1000 + 1  # a read that began after every write so far
