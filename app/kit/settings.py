"""The one Settings class: every BFF_ variable, validated once at start."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SIMULATOR_URL = "http://127.0.0.1:8081"


def _split_csv(value: object) -> object:
    """Comma-separated env values ("a,b") become lists; JSON lists pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _redis_scheme(value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return value


def _host_port_pairs(addresses: list[str]) -> tuple[tuple[str, int], ...]:
    pairs = (address.rpartition(":") for address in addresses)
    return tuple((host.strip("[]"), int(port)) for host, _, port in pairs)


@dataclass(frozen=True)
class RedisTarget:
    """One Redis that is not a cluster: at ``url``, or the primary that ``sentinels`` name
    ``sentinel_master`` (then ``url`` gives only the database and credentials)."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = "mymaster"


class Settings(BaseSettings):
    """Configuration of the API and the worker (prefix ``BFF_``)."""

    model_config = SettingsConfigDict(env_prefix="BFF_", extra="ignore", frozen=True)

    upstream_url: AnyHttpUrl = AnyHttpUrl(SIMULATOR_URL)
    data_integrations_url: AnyHttpUrl = AnyHttpUrl(SIMULATOR_URL)
    redis_url: str = "redis://127.0.0.1:6379/0"
    # BFF_REDIS_URL is one node of a Redis Cluster (the service's data); arq's queue, which a
    # cluster cannot hold (its enqueue is a MULTI across keys), is then BFF_QUEUE_REDIS_URL.
    redis_cluster: bool = False
    queue_redis_url: str | None = Field(default=None, validate_default=True)
    jwt_secret: SecretStr | None = None
    upstream_service_token: SecretStr | None = None
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # At most one upstream list call per partner per this, shared by every replica and worker.
    list_refresh_s: float = Field(default=2.0, gt=0, le=3600)
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000]
    )
    webhook_allow_private_targets: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Origins allowed by pattern besides cors_origins (whole-origin match); the dev stack sets
    # http://localhost:* and http://127.0.0.1:*, production leaves it unset.
    cors_origin_regex: str | None = Field(default=None, min_length=1, max_length=512)
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    demo_partner_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jwt_jwks_url: AnyHttpUrl | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_min_refetch_s: float = Field(default=30.0, ge=0)
    jwt_max_lifetime_s: float = Field(default=86_400.0, gt=0)  # longer-lived tokens are refused
    link_signing_key: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    rate_limit_rps: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=100, ge=0)
    # The same for an acting subject (a token's ``sub``) across every partner it acts for;
    # unset: one and a half times the partner's.
    rate_limit_subject_rps: float | None = Field(default=None, ge=0)
    rate_limit_subject_burst: int | None = Field(default=None, ge=0)
    max_drafts_per_user: int = Field(default=100, ge=1)
    # Open event streams, counted per API process: a stream's memory and socket are that
    # process's (app/live/slots.py); the process cap is also kept under the fd limit.
    max_streams_per_partner: int = Field(default=1_000, ge=1)
    max_streams_per_process: int = Field(default=10_000, ge=1)
    max_streams_per_subject: int = Field(default=1_000, ge=1)
    log_format: Literal["json", "text"] = "json"
    worker_metrics_port: int = Field(default=9091, ge=0, le=65535)
    api_metrics_port: int = Field(default=9090, ge=0, le=65535)  # the API's /metrics; never the public port
    redis_sentinels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    redis_sentinel_master: str = Field(default="mymaster", min_length=1)
    # The queue's own Sentinels, when BFF_QUEUE_REDIS_URL names a Redis of its own.
    queue_redis_sentinels: Annotated[list[str], NoDecode] = Field(default_factory=list, validate_default=True)
    queue_redis_sentinel_master: str = Field(default="mymaster", min_length=1)

    # Tuning knobs; defaults suit production (docs/operations.md lists every setting).
    upstream_timeout_s: float = Field(default=10.0, gt=0)
    upstream_connect_timeout_s: float = Field(default=3.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    upstream_retries: int = Field(default=2, ge=0, le=10)
    # What one upstream call may cost whatever the upstream sends: a JSON answer's bytes after
    # decompression (a 5,000-package list is about 1.3 MB; CSV downloads are streamed, not
    # capped) and the time of the whole call, retries included.
    upstream_max_answer_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    upstream_deadline_s: float = Field(default=15.0, gt=0, le=300)
    redis_max_connections: int = Field(default=100, ge=1)
    draft_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    draft_max_bytes: int = Field(default=256 * 1024, ge=1024)
    evaluation_cache_ttl_s: int = Field(default=300, ge=1)
    events_cache_ttl_s: int = Field(default=30, ge=1)
    idempotency_wait_s: float = Field(default=10.0, gt=0, le=60)
    # Stored answers: one larger than this is not kept (a retry learns the outcome and where
    # the resource is, 409); a partner's answers stored in 24 h stop at the budget (429).
    idempotency_max_answer_bytes: int = Field(default=64 * 1024, ge=1024)
    idempotency_budget_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    # The kept package list (RFC 5861's windows): served while its refresh runs when younger
    # than the first; served instead of a 502/504 while the upstream fails when younger than
    # the second; dropped when nobody has read it for the third.
    list_stale_while_revalidate_s: int = Field(default=60, ge=0)
    list_stale_if_error_s: int = Field(default=24 * 3600, ge=0)
    list_ttl_s: int = Field(default=600, ge=10)
    # An API parses a partner's list at least this long in helper processes (app/listing/
    # offload.py), so a long history never holds its event loop; 0 processes: on the loop.
    list_helper_processes: int = Field(default=1, ge=0, le=16)
    list_helper_min_bytes: int = Field(default=256 * 1024, ge=0)
    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_disable_after_s: float = Field(default=5 * 24 * 3600, gt=0)
    watch_deadline_s: float = Field(default=7 * 24 * 3600, gt=0)
    body_read_timeout_s: float = Field(default=30.0, gt=0)
    webhook_test_sends_per_hour: int = Field(default=60, ge=1)
    # Fair delivery: at most this many deliveries of one partner in flight at once, counted
    # across all workers in Redis; the rest wait (deferred, never logged as failed attempts),
    # so one partner's hanging endpoints hold at most this many of a worker's 50 job slots.
    webhook_partner_concurrency: int = Field(default=10, ge=1)
    # The activity log (app/activity): how long a partner's events stay, and at most how many.
    activity_retention_s: int = Field(default=30 * 24 * 3600, ge=60, le=365 * 24 * 3600)
    activity_max_events: int = Field(default=1_000_000, ge=1_000, le=100_000_000)
    # What one feed page, consumer poll or stream catch-up read carries at most (event bodies).
    activity_page_max_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    worker_metrics_host: str = "0.0.0.0"  # where the worker's /metrics listens
    api_metrics_host: str = "0.0.0.0"  # where the API's /metrics listens

    @field_validator(
        "webhook_retry_schedule",
        "cors_origins",
        "demo_partner_ids",
        "redis_sentinels",
        "queue_redis_sentinels",
        mode="before",
    )
    @classmethod
    def _parse_list(cls, value: object) -> object:
        """Lists come from the environment as comma-separated text."""
        return _split_csv(value)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_positive(cls, value: list[float]) -> list[float]:
        if not value or any(delay < 0 for delay in value):
            raise ValueError("must be a non-empty comma-separated list of seconds >= 0")
        return value

    @field_validator("redis_sentinels", "queue_redis_sentinels")
    @classmethod
    def _sentinels_are_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{address!r} is not host:port (expected host:port,host:port)")
        return value

    @field_validator("redis_cluster")
    @classmethod
    def _cluster_reached_by_tcp(cls, value: bool, info: ValidationInfo) -> bool:
        """redis-py's RedisCluster takes no unix socket and only database 0."""
        url = info.data.get("redis_url")
        if value and url is not None:
            if url.startswith("unix://"):
                raise ValueError(
                    "a Redis Cluster is reached over TCP: BFF_REDIS_URL must be redis:// or rediss://"
                )
            if urlsplit(url).path.strip("/") not in ("", "0"):
                raise ValueError(
                    "a Redis Cluster has database 0 only: BFF_REDIS_URL must end in /0 or no path"
                )
        return value

    @field_validator("queue_redis_url")
    @classmethod
    def _queue_of_a_cluster(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("redis_cluster"):
                raise ValueError(
                    "required when BFF_REDIS_CLUSTER is true: arq's queue needs a Redis that is not "
                    "a cluster (redis://host:port/0, or with BFF_QUEUE_REDIS_SENTINELS its database "
                    "and credentials)"
                )
            return None
        return _redis_scheme(value)

    @field_validator("redis_sentinels")
    @classmethod
    def _no_sentinel_for_a_cluster(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("redis_cluster"):
            raise ValueError(
                "a Redis Cluster fails over by itself and cannot be reached through Sentinel; "
                "for the queue's Redis, set BFF_QUEUE_REDIS_SENTINELS"
            )
        return value

    @field_validator("queue_redis_sentinels")
    @classmethod
    def _queue_sentinels_need_the_queue_url(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and "queue_redis_url" in info.data and info.data["queue_redis_url"] is None:
            raise ValueError(
                "needs BFF_QUEUE_REDIS_URL (the queue's database and credentials); without it the "
                "queue is the Redis at BFF_REDIS_URL, reached through BFF_REDIS_SENTINELS"
            )
        return value

    @field_validator("cors_origin_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            import re

            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a regular expression: {exc}") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str) -> str:
        return _redis_scheme(value)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``BFF_REDIS_SENTINELS`` as (host, port) pairs; empty: Redis at ``BFF_REDIS_URL``."""
        return list(_host_port_pairs(self.redis_sentinels))

    @property
    def data_redis(self) -> RedisTarget:
        """The Redis of the service's data when it is not a cluster (``redis_cluster``)."""
        return RedisTarget(self.redis_url, _host_port_pairs(self.redis_sentinels), self.redis_sentinel_master)

    @property
    def queue_redis(self) -> RedisTarget:
        """The Redis of arq's queue: its own when ``BFF_QUEUE_REDIS_URL`` is set, else the data's."""
        if self.queue_redis_url is None:
            return self.data_redis
        return RedisTarget(
            self.queue_redis_url,
            _host_port_pairs(self.queue_redis_sentinels),
            self.queue_redis_sentinel_master,
        )

    @property
    def upstream_base(self) -> str:
        return str(self.upstream_url).rstrip("/")

    @property
    def data_integrations_base(self) -> str:
        return str(self.data_integrations_url).rstrip("/")

    @property
    def public_base(self) -> str:
        return str(self.public_url).rstrip("/")

    def link_key(self) -> bytes | None:
        """``BFF_LINK_SIGNING_KEY``, else one derived from ``BFF_JWT_SECRET`` (the same on
        every replica either way); None when neither is set: then no link is signed."""
        if self.link_signing_key is not None:
            return self.link_signing_key.get_secret_value().encode()
        if self.jwt_secret is not None:
            return hashlib.sha256(b"bff-links\x00" + self.jwt_secret.get_secret_value().encode()).digest()
        return None


class SettingsError(SystemExit):
    """Raised at start when a BFF_ variable is invalid; its message is one line."""


def load_settings() -> Settings:
    """Read and validate the environment; a bad value becomes one clear line."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "BFF_" + str(first["loc"][0]).upper() if first["loc"] else "BFF_*"
        raise SettingsError(f"invalid configuration: {name}: {first['msg']}") from None
    except ValueError as exc:  # e.g. a JSON list that does not parse
        raise SettingsError(f"invalid configuration: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read once."""
    return load_settings()
