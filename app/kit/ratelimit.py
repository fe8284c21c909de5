"""Per-partner token bucket in Redis, shared by every API replica.

``BFF_RATE_LIMIT_RPS`` tokens a second refill a bucket of ``BFF_RATE_LIMIT_BURST``; each
request of the partner takes one. A refusal is 429 with ``Retry-After``; every answer
carries ``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers,
structured fields: ``"partner";q=<burst>;w=<seconds to refill>`` and ``"partner";r=<left>;t=<s>``).
A limiter that cannot reach Redis lets requests through: Redis-backed endpoints answer 503
by themselves, and a limiter outage must not take the whole API down.

Tokens are taken from the shared bucket a few at a time (a *lease*: a tenth of a second of
the rate, at most 5 % of the burst, at least one) and spent locally, so a busy partner costs
one Redis call per lease rather than per request. Every token spent came out of the shared
bucket, so replicas together never admit more than the limit; a replica may hold up to one
unspent lease per partner, which it spends later (at the default 50/s and 100, five tokens).
A limit small enough for a lease of one token behaves exactly like a per-request bucket.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.kit import redis_keys
from app.kit.errors import TooManyRequests
from app.observability.metrics import count_rate_limited

logger = logging.getLogger("app.ratelimit")
POLICY = "partner"
RATE_LIMIT_HEADERS = "rate_limit_headers"  # request state: set by app.auth.deps, sent on the answer

LEASE_WINDOW_S = 0.1  # a lease is at most this much of the rate …
LEASE_BURST_SHARE = 20  # … and at most 1/20 of the burst
MAX_LEASES = 10_000  # partners whose leases one process remembers (oldest forgotten first)

# KEYS: bucket. ARGV: rate per s, burst, tokens wanted.
# Returns {tokens granted (0 = refused), tokens left (floor), wait ms when refused}.
_TAKE = """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted, wait = math.min(want, math.floor(tokens)), 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, math.floor(tokens), wait}
"""


@dataclass(frozen=True, slots=True)
class Quota:
    """What the limiter says of one request: its headers, and whether it may go on."""

    allowed: bool
    headers: dict[str, str]
    retry_after_s: int


class _Lease:
    """Tokens of one partner taken from the shared bucket and not spent yet."""

    __slots__ = ("bucket_left", "lock", "tokens")

    def __init__(self) -> None:
        self.tokens = 0
        self.bucket_left = 0  # what the shared bucket held after the last lease
        self.lock = asyncio.Lock()  # one lease request at a time per partner


def lease_size(rate: float, burst: int) -> int:
    return max(1, min(burst // LEASE_BURST_SHARE, math.floor(rate * LEASE_WINDOW_S)))


class RateLimiter:
    def __init__(self, redis: Redis, *, rate: float, burst: int) -> None:
        self._redis = redis
        self._rate = rate
        self._burst = burst
        self._take = redis.register_script(_TAKE)
        self._lease_size = lease_size(rate, burst)
        self._leases: dict[str, _Lease] = {}
        window = math.ceil(burst / rate) if rate > 0 else 0
        self._policy = f'"{POLICY}";q={burst};w={window}'

    @property
    def enabled(self) -> bool:
        return self._rate > 0 and self._burst > 0

    async def take(self, partner_id: str) -> Quota | None:
        """One token of the partner's bucket; None when off or Redis does not answer."""
        if not self.enabled:
            return None
        lease = self._leases.get(partner_id) or self._new_lease(partner_id)
        if lease.tokens < 1:
            async with lease.lock:
                if lease.tokens < 1:  # not refilled by a request that held the lock before
                    try:
                        refused = await self._renew(partner_id, lease)
                    except RedisError as exc:
                        logger.warning("rate limiter unavailable, letting the request through: %s", exc)
                        return None
                    if refused is not None:
                        return refused
        lease.tokens -= 1
        return self._quota(True, lease.bucket_left + lease.tokens, 0)

    async def _renew(self, partner_id: str, lease: _Lease) -> Quota | None:
        """A new lease from the shared bucket, or the refusal when it has no token to give."""
        granted, left, wait_ms = await self._take(
            keys=[redis_keys.rate_limit(partner_id)], args=[repr(self._rate), self._burst, self._lease_size]
        )
        lease.bucket_left = int(left)
        if int(granted) < 1:
            return self._quota(False, int(left), int(wait_ms))
        lease.tokens = int(granted)
        return None

    def _quota(self, allowed: bool, left: int, wait_ms: int) -> Quota:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        reset = math.ceil((self._burst - left) / self._rate)
        headers = {
            "RateLimit-Policy": self._policy,
            "RateLimit": f'"{POLICY}";r={left};t={reset if allowed else retry_after}',
        }
        return Quota(allowed, headers, retry_after)

    def _new_lease(self, partner_id: str) -> _Lease:
        if len(self._leases) >= MAX_LEASES:  # forget the oldest partner's unspent tokens
            del self._leases[next(iter(self._leases))]
        lease = self._leases[partner_id] = _Lease()
        return lease

    async def check(self, partner_id: str) -> dict[str, str]:
        """The headers for the answer; 429 when the partner's bucket is empty."""
        quota = await self.take(partner_id)
        if quota is None:
            return {}
        if not quota.allowed:
            count_rate_limited()
            raise TooManyRequests(
                f"partner {partner_id!r} is over its rate limit ({self._rate:g} requests/s, "
                f"bursts of {self._burst}); retry after {quota.retry_after_s} s",
                headers={**quota.headers, "Retry-After": str(quota.retry_after_s)},
            )
        return quota.headers
