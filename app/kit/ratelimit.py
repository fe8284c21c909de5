"""Token buckets in Redis, shared by every API replica: one per partner, one per acting
subject (the token's ``sub``).

``BFF_RATE_LIMIT_RPS`` tokens a second refill a partner's bucket of ``BFF_RATE_LIMIT_BURST``;
a subject's bucket is ``BFF_RATE_LIMIT_SUBJECT_RPS`` / ``_BURST`` (one and a half times the partner's by
default), so a token that may act for many partners cannot multiply the partner budget by
their number. A request takes one token of each; one that costs more (a search's scan, a
long page of events) is *charged* its extra cost afterwards, from both. A refusal is 429
with ``Retry-After``; every answer carries ``RateLimit-Policy`` and ``RateLimit``
(draft-ietf-httpapi-ratelimit-headers, structured fields) of the bucket with fewer tokens
left: ``"partner";q=<burst>;w=<seconds to refill>`` and ``"partner";r=<left>;t=<s>`` (or
``"subject"``). A limiter that cannot reach Redis lets requests through: Redis-backed
endpoints answer 503 by themselves, and a limiter outage must not take the whole API down.

Tokens are taken from a shared bucket a few at a time (a *lease*: a tenth of a second of the
rate, at most 5 % of the burst, at least one) and spent locally, so a busy partner costs one
Redis call per lease rather than per request. Every token spent came out of the shared
bucket, so replicas together never admit more than the limit; a replica may hold up to one
unspent lease per bucket, which it spends later (at the default 50/s and 100, five tokens).
A charge spends tokens the lease may not have: the debt is taken from the bucket with the
next lease, and the bucket's next request waits until it is paid.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis

from app.kit import lua
from app.kit.errors import TooManyRequests
from app.kit.keyspace import PREFIX, key_part, partner_part
from app.kit.retry import REDIS_ERRORS
from app.observability.metrics import count_rate_limited

logger = logging.getLogger("app.ratelimit")
POLICY = "partner"
SUBJECT_POLICY = "subject"
SUBJECT_SHARE = 1.5  # a subject's default budget, in partner budgets: a user of one partner
# never meets it first, and a token for every partner gets at most this much more
RATE_LIMIT_HEADERS = "rate_limit_headers"  # request state: set by app.auth.deps, sent on the answer

LEASE_WINDOW_S = 0.1  # a lease is at most this much of the rate …
LEASE_BURST_SHARE = 20  # … and at most 1/20 of the burst
MAX_LEASES = 20_000  # buckets whose leases one process remembers (oldest forgotten first)

ROWS_PER_TOKEN = 256  # a search: one token more per this many rows it looked at
BYTES_PER_TOKEN = 256 * 1024  # a page of events: one token more per this many bytes


def partner_bucket(partner_id: str) -> str:
    """Token bucket of a partner (hash: tokens, at); expires once it would be full again."""
    return f"{PREFIX}:ratelimit:{partner_part(partner_id)}"


def subject_bucket(subject: str) -> str:
    """Token bucket of an acting subject (a token's ``sub``), across the partners it acts for."""
    return f"{PREFIX}:ratelimit-subject:{key_part(subject)}"


def extra_cost(*, rows: int = 0, size: int = 0) -> int:
    """Tokens a request spends beyond its first, by what it cost Redis and this process."""
    return rows // ROWS_PER_TOKEN + size // BYTES_PER_TOKEN


@dataclass(frozen=True, slots=True)
class Quota:
    """What the limiter says of one request: its headers, and whether it may go on."""

    allowed: bool
    headers: dict[str, str]
    retry_after_s: int
    left: int
    policy: str  # which bucket: ``partner`` or ``subject``


@dataclass(frozen=True, slots=True)
class Terms:
    """One kind of bucket: its name in the headers, rate and burst."""

    name: str
    rate: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    @property
    def lease(self) -> int:
        return lease_size(self.rate, self.burst)

    @property
    def policy(self) -> str:
        window = math.ceil(self.burst / self.rate) if self.rate > 0 else 0
        return f'"{self.name}";q={self.burst};w={window}'

    def key(self, owner: str) -> str:
        return partner_bucket(owner) if self.name == POLICY else subject_bucket(owner)


class _Lease:
    """Tokens of one bucket taken from Redis and not spent yet (negative: a debt)."""

    __slots__ = ("bucket_left", "lock", "tokens")

    def __init__(self) -> None:
        self.tokens = 0
        self.bucket_left = 0  # what the shared bucket held after the last lease
        self.lock = asyncio.Lock()  # one lease request at a time per bucket


def lease_size(rate: float, burst: int) -> int:
    return max(1, min(burst // LEASE_BURST_SHARE, math.floor(rate * LEASE_WINDOW_S)))


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        rate: float,
        burst: int,
        subject_rate: float | None = None,
        subject_burst: int | None = None,
    ) -> None:
        self._redis = redis
        self._take = lua.script(redis, "kit/lua/take_tokens.lua")
        self._partner = Terms(POLICY, rate, burst)
        self._subject = Terms(
            SUBJECT_POLICY,
            SUBJECT_SHARE * rate if subject_rate is None else subject_rate,
            int(SUBJECT_SHARE * burst) if subject_burst is None else subject_burst,
        )
        self._leases: dict[tuple[str, str], _Lease] = {}

    @property
    def enabled(self) -> bool:
        return self._partner.enabled

    async def take(self, partner_id: str, subject: str | None = None) -> Quota | None:
        """One token of the partner's bucket and of the subject's; None when off or Redis
        does not answer. A refusal by either takes nothing of the other."""
        if not self.enabled:
            return None
        try:
            quota = await self._take_one(self._partner, partner_id)
            if subject is None or not quota.allowed or not self._subject.enabled:
                return quota
            other = await self._take_one(self._subject, subject)
        except REDIS_ERRORS as exc:
            logger.warning("rate limiter unavailable, letting the request through: %s", exc)
            return None
        if not other.allowed:  # the partner's token goes back: this request was not served
            self._lease(self._partner, partner_id).tokens += 1
            return other
        return other if other.left < quota.left else quota

    def charge(self, partner_id: str, subject: str | None, tokens: int) -> None:
        """Spend ``tokens`` more for a request that cost more than one (no Redis call: the
        debt is paid with the next lease)."""
        if not self.enabled or tokens <= 0:
            return
        self._lease(self._partner, partner_id).tokens -= tokens
        if subject is not None and self._subject.enabled:
            self._lease(self._subject, subject).tokens -= tokens

    async def _take_one(self, terms: Terms, owner: str) -> Quota:
        lease = self._lease(terms, owner)
        if lease.tokens < 1:
            async with lease.lock:
                if lease.tokens < 1:  # not refilled by a request that held the lock before
                    refused = await self._renew(terms, owner, lease)
                    if refused is not None:
                        return refused
        lease.tokens -= 1
        return self._quota(terms, True, lease.bucket_left + lease.tokens, 0)

    async def _renew(self, terms: Terms, owner: str, lease: _Lease) -> Quota | None:
        """A new lease from the shared bucket (paying any debt first), or the refusal when
        it has not enough to give."""
        debt = max(0, -lease.tokens)
        granted, left, wait_ms = await self._take(
            keys=[terms.key(owner)], args=[repr(terms.rate), terms.burst, terms.lease + debt]
        )
        lease.bucket_left = int(left)
        lease.tokens += int(granted)
        if lease.tokens < 1:
            if int(granted) >= 1:  # the grant went to the debt: wait for what is still owed
                wait_ms = math.ceil((1 - lease.tokens) / terms.rate * 1000)
            return self._quota(terms, False, int(left), int(wait_ms))
        return None

    def _quota(self, terms: Terms, allowed: bool, left: int, wait_ms: int) -> Quota:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        left = max(0, left)
        reset = math.ceil((terms.burst - left) / terms.rate)
        headers = {
            "RateLimit-Policy": terms.policy,
            "RateLimit": f'"{terms.name}";r={left};t={reset if allowed else retry_after}',
        }
        return Quota(allowed, headers, retry_after, left, terms.name)

    def _lease(self, terms: Terms, owner: str) -> _Lease:
        key = (terms.name, owner)
        lease = self._leases.get(key)
        if lease is None:
            if len(self._leases) >= MAX_LEASES:  # forget the oldest bucket's unspent tokens
                del self._leases[next(iter(self._leases))]
            lease = self._leases[key] = _Lease()
        return lease

    async def check(self, partner_id: str, subject: str | None = None) -> dict[str, str]:
        """The headers for the answer; 429 when the partner's or the subject's bucket is
        empty."""
        quota = await self.take(partner_id, subject)
        if quota is None:
            return {}
        if not quota.allowed:
            count_rate_limited()
            raise TooManyRequests(
                self._refusal(partner_id, quota),
                headers={**quota.headers, "Retry-After": str(quota.retry_after_s)},
            )
        return quota.headers

    def _refusal(self, partner_id: str, quota: Quota) -> str:
        if quota.policy == SUBJECT_POLICY:
            terms = self._subject
            who = "this token's subject (across every partner it acts for)"
        else:
            terms = self._partner
            who = f"partner {partner_id!r}"
        return (
            f"{who} is over its rate limit ({terms.rate:g} requests/s, bursts of {terms.burst}; "
            f"searches and long pages cost more); retry after {quota.retry_after_s} s"
        )
