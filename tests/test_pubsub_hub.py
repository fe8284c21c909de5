"""The pub/sub hub follows its node away: when the connection stays lost (a cluster's failed
primary that never comes back), it asks for a new one and subscribes again to every channel
still wanted, so the streams go on after a RESYNC."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from app.kit.pubsub import RESYNC, ChannelHub
from tests.support.processes import RedisServer, free_port


async def test_a_node_gone_for_good_is_replaced_and_every_channel_subscribed_again(redis_server):
    data_dir = Path(tempfile.mkdtemp(prefix="bff-hub-"))
    doomed = RedisServer(free_port(), data_dir).start()
    survivor = Redis.from_url(redis_server.url, decode_responses=True)
    urls = [doomed.url]  # the first connection goes to the doomed node, later ones elsewhere

    def connect() -> Redis:
        url = urls[0]
        urls[0] = redis_server.url
        return Redis.from_url(url, decode_responses=True)

    hub = ChannelHub(connect)
    try:
        async with hub.subscribe("hub-test:a") as inbox_a, hub.subscribe("hub-test:b") as inbox_b:
            doomed.stop()  # gone for good: redis-py alone would retry it forever
            assert await asyncio.wait_for(inbox_a.get(), 15) == RESYNC
            assert await asyncio.wait_for(inbox_b.get(), 15) == RESYNC
            counts = await survivor.pubsub_numsub("hub-test:a", "hub-test:b")
            assert [count for _, count in counts] == [1, 1]  # subscribed again to both
            await survivor.publish("hub-test:b", "after")
            assert await asyncio.wait_for(inbox_b.get(), 5) == "after"
    finally:
        await hub.aclose()
        await survivor.aclose()
        shutil.rmtree(data_dir, ignore_errors=True)
