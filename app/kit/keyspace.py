"""How a Redis key is spelled: the ``bff:`` prefix and the parts that go into a key.

Each domain names its keys, with their lifetimes, in its own ``keys.py``. A key holding a
partner's data carries the partner id through ``partner_part``, the one place that spells a
partner in a key, so one partner can never read another's entry by accident.
"""

from __future__ import annotations

import zlib
from hashlib import sha256

PREFIX = "bff"
SHARDS = 16
"""Keys a cross-partner structure (the poll schedule, pending deliveries, ...) is split into on
a Redis Cluster, each on a slot of its own, so no script touches two partners' slots."""

_cluster = False


def use_cluster_keys(enabled: bool) -> None:
    """Spell keys for a Redis Cluster (``BFF_REDIS_CLUSTER``): called by ``make_redis`` when
    the process makes its data client, before any key is built. On a single Redis the keys
    stay as they always were, so an upgrade finds every key where it was."""
    global _cluster
    _cluster = enabled


def cluster_keys() -> bool:
    return _cluster


def key_part(value: str) -> str:
    """Partner ids, subs and user keys go into keys as they are when short and plain
    (``[A-Za-z0-9_-]``), else hashed behind ``~``, a character no plain part has: a raw id
    can never land in the namespace of a hashed one."""
    if value and value.isascii() and value.replace("-", "").replace("_", "").isalnum() and len(value) <= 64:
        return value
    return "~" + sha256(value.encode()).hexdigest()[:32]


def partner_part(partner_id: str) -> str:
    """The segment of a key that names its partner: every partner key spells it here. On a
    cluster it is the key's hash tag (``{partner}``), so all of a partner's keys share a
    slot and every script touches one slot (``key_part`` never yields a brace)."""
    part = key_part(partner_id)
    return "{" + part + "}" if _cluster else part


def shard_keys(base: str) -> list[str]:
    """Every key of a cross-partner structure: ``base`` itself on a single Redis; on a
    cluster, ``SHARDS`` keys, each its own hash tag."""
    return [f"{base}:{{s{shard}}}" for shard in range(SHARDS)] if _cluster else [base]


def shard_key(base: str, partner_id: str) -> str:
    """The key of ``base``'s structure that holds ``partner_id`` (see ``shard_keys``)."""
    if not _cluster:
        return base
    return f"{base}:{{s{zlib.crc32(partner_id.encode()) % SHARDS}}}"
