"""Per-partner token bucket in Redis, shared by every API replica.

``BFF_RATE_LIMIT_RPS`` tokens a second refill a bucket of ``BFF_RATE_LIMIT_BURST``; each
request of the partner takes one. A refusal is 429 with ``Retry-After``; every answer
carries ``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers,
structured fields: ``"partner";q=<burst>;w=<seconds to refill>`` and ``"partner";r=<left>;t=<s>``).
A limiter that cannot reach Redis lets requests through: Redis-backed endpoints answer 503
by themselves, and a limiter outage must not take the whole API down.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import redis_keys
from app.errors import TooManyRequests
from app.observability.metrics import count_rate_limited

logger = logging.getLogger("app.ratelimit")
POLICY = "partner"

# KEYS: bucket. ARGV: rate per s, burst. Returns {allowed, tokens left (floor), wait ms}.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, math.floor(tokens), wait}
"""


@dataclass(frozen=True, slots=True)
class Quota:
    """What the limiter says of one request: its headers, and whether it may go on."""

    allowed: bool
    headers: dict[str, str]
    retry_after_s: int


class RateLimiter:
    def __init__(self, redis: Redis, *, rate: float, burst: int) -> None:
        self._redis = redis
        self._rate = rate
        self._burst = burst
        self._take = redis.register_script(_TAKE)
        window = math.ceil(burst / rate) if rate > 0 else 0
        self._policy = f'"{POLICY}";q={burst};w={window}'

    @property
    def enabled(self) -> bool:
        return self._rate > 0 and self._burst > 0

    async def take(self, partner_id: str) -> Quota | None:
        """One token of the partner's bucket; None when off or Redis does not answer."""
        if not self.enabled:
            return None
        try:
            allowed, left, wait_ms = await self._take(
                keys=[redis_keys.rate_limit(partner_id)], args=[repr(self._rate), self._burst]
            )
        except RedisError as exc:
            logger.warning("rate limiter unavailable, letting the request through: %s", exc)
            return None
        reset = math.ceil((self._burst - int(left)) / self._rate)
        retry_after = max(1, math.ceil(int(wait_ms) / 1000))
        headers = {
            "RateLimit-Policy": self._policy,
            "RateLimit": f'"{POLICY}";r={int(left)};t={retry_after if not allowed else reset}',
        }
        return Quota(bool(allowed), headers, retry_after)

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
