"""The rate limiter's leases, against the real Redis: a busy partner costs one Redis call
per lease, yet replicas together never admit more than the shared bucket gives out."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from app.kit.errors import TooManyRequests
from app.kit.ratelimit import RateLimiter, lease_size, partner_bucket


async def bucket_field(redis: Redis, partner: str, name: str) -> float:
    """A field of the shared bucket (``tokens``, or ``at``: when the script last wrote it).
    Checks storage: what replicas share is the bucket in Redis."""
    return float(await redis.execute_command("HGET", partner_bucket(partner), name))


async def bucket_tokens(redis: Redis, partner: str) -> float:
    return await bucket_field(redis, partner, "tokens")


def test_a_lease_is_a_tenth_of_a_second_of_the_rate_at_most_a_twentieth_of_the_burst():
    assert lease_size(50, 100) == 5  # the defaults
    assert lease_size(1000, 100) == 5
    assert lease_size(100, 1000) == 10
    assert lease_size(0.01, 3) == 1  # small limits: one token per request, as a plain bucket


async def test_tokens_of_a_lease_are_spent_without_asking_redis(redis: Redis, partner: str):
    limiter = RateLimiter(redis, rate=100, burst=1000)  # leases of 10
    remaining = []
    for _ in range(10):
        remaining.append((await limiter.check(partner))["RateLimit"])
    assert await bucket_tokens(redis, partner) == 990  # one lease taken, nothing since
    assert remaining[0].startswith('"partner";r=999;') and remaining[-1].startswith('"partner";r=990;')
    written_at = await bucket_field(redis, partner, "at")
    await limiter.check(partner)
    assert await bucket_field(redis, partner, "at") > written_at  # the eleventh took a new lease


async def test_replicas_share_the_bucket_and_never_admit_more_than_it_holds(redis: Redis, partner: str):
    # 40 tokens refilled at 20/s, leases of 2: whatever a replica holds came out of the
    # bucket, so the two together admit the 40 plus what refilled meanwhile, no more (and
    # at most one unspent token per replica less).
    replicas = [RateLimiter(redis, rate=20, burst=40) for _ in range(2)]
    admitted = [0, 0]
    refusals = 0
    started = time.monotonic()
    for turn in range(200):
        try:
            await replicas[turn % 2].check(partner)
            admitted[turn % 2] += 1
        except TooManyRequests as refusal:
            refusals += 1
            assert refusal.headers["RateLimit"].startswith('"partner";r=0;')
    refilled = 20 * (time.monotonic() - started)
    assert refusals > 0 and min(admitted) > 0
    assert 40 - 2 <= sum(admitted) <= 40 + refilled


async def test_concurrent_requests_of_a_partner_wait_for_one_lease(redis: Redis, partner: str):
    limiter = RateLimiter(redis, rate=100, burst=1000)  # leases of 10
    await asyncio.gather(*(limiter.check(partner) for _ in range(10)))
    assert await bucket_tokens(redis, partner) == 990


@pytest.mark.parametrize("rate, burst", [(0, 100), (50, 0)])
async def test_a_zero_rate_or_burst_turns_the_limiter_off(
    redis: Redis, partner: str, rate: float, burst: int
):
    limiter = RateLimiter(redis, rate=rate, burst=burst)
    assert await limiter.check(partner) == {}
    assert not await redis.exists(partner_bucket(partner))  # checks storage: no bucket at all


async def test_a_subject_acting_for_many_partners_gets_its_own_budget_not_theirs_together(
    redis: Redis, partner: str
):
    limiter = RateLimiter(redis, rate=0.01, burst=3, subject_rate=0.01, subject_burst=6)
    subject = "sub-" + partner
    admitted, refusals = 0, []
    for n in range(40):  # one request each for 40 partners: 3 each would be 120
        try:
            await limiter.check(f"{partner}-{n}", subject)
            admitted += 1
        except TooManyRequests as refusal:
            refusals.append(refusal)
    assert admitted == 6
    assert "subject" in refusals[0].detail and refusals[0].headers["RateLimit"].startswith('"subject";r=0;')
    with pytest.raises(TooManyRequests):  # a refused subject took nothing of the partners
        await limiter.check(f"{partner}-0", subject)
    assert await limiter.check(f"{partner}-0", "another-subject")


async def test_a_charged_request_spends_its_cost_from_both_budgets(redis: Redis, partner: str):
    limiter = RateLimiter(redis, rate=0.01, burst=10)  # subject: 1.5 times that
    await limiter.check(partner, "s")
    limiter.charge(partner, "s", 8)  # a search that looked at 2,048 rows, say
    await limiter.check(partner, "s")  # the 10th token of the partner
    with pytest.raises(TooManyRequests) as refused:
        await limiter.check(partner, "s")
    assert refused.value.headers["RateLimit"].startswith('"partner";r=0;')
    assert await bucket_tokens(redis, partner) < 1
