"""The Redis clock without a round trip per reading: never later than Redis's own clock,
a few ms earlier at most, and one TIME per refresh period however many readings."""

from __future__ import annotations

from redis.asyncio import Redis

from app.builds.clock import DRIFT_ALLOWANCE_MS, RedisClock


async def redis_ms(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) / 1000


async def test_a_reading_is_never_later_than_redis_and_only_a_few_ms_earlier(redis: Redis):
    clock = RedisClock(redis)
    for _ in range(200):
        before = await redis_ms(redis)
        reading = await clock.now_ms()
        after = await redis_ms(redis)
        assert reading <= after
        assert reading >= before - DRIFT_ALLOWANCE_MS - 50  # 50 ms: one round trip, generously


class CountingRedis(Redis):
    """The real client, counting the TIME commands it sends."""

    times_asked = 0

    async def time(self, **kwargs: object) -> tuple[int, int]:
        self.times_asked += 1
        return await super().time(**kwargs)


async def test_readings_within_the_refresh_period_ask_redis_once(redis: Redis):
    counting = CountingRedis(connection_pool=redis.connection_pool)
    clock = RedisClock(counting)
    readings = [await clock.now_ms() for _ in range(100)]
    assert counting.times_asked == 1
    assert readings == sorted(readings)  # monotonic between measurements
