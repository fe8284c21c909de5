"""The webhooks' Redis keys: endpoints, deliveries and their attempts, the leases that cap a
partner's concurrent sends, test-send counters and the pending sweep."""

from __future__ import annotations

from app.kit.keyspace import PREFIX, partner_part, shard_key, shard_keys

WEBHOOK_DELIVERY_TTL_S = 30 * 24 * 3600
# Longer than the webhook jobs' arq timeout: a job releases its leases on the way out, even
# when arq cancels it at that timeout, so only a killed worker's leases are left to lapse.
WEBHOOK_LEASE_S = 40
WEBHOOK_TEST_WINDOW_S = 3600

# Sorted set "<delivery_id>:<partner_id>" → when its next attempt is due (unix seconds);
# no TTL (members leave when the delivery ends). Swept to re-enqueue jobs that were lost.
# Across partners: this one key on a single Redis, shard keys on a cluster (below).
WEBHOOK_PENDING = f"{PREFIX}:webhook-pending"


def webhook_pending(partner_id: str) -> str:
    """The key of ``WEBHOOK_PENDING`` holding the partner's entries. On a cluster it is a
    shard's slot, not the partner's: no script touches it together with a delivery."""
    return shard_key(WEBHOOK_PENDING, partner_id)


def webhook_pending_shards() -> list[str]:
    """Every key of ``WEBHOOK_PENDING``, for the sweep and the metrics that read it all."""
    return shard_keys(WEBHOOK_PENDING)


def webhook_endpoint(partner_id: str, endpoint_id: str) -> str:
    """One endpoint (hash: url, event types, secrets, enabled, failure streak); no TTL."""
    return f"{PREFIX}:webhook:{partner_part(partner_id)}:{endpoint_id}"


def webhook_index(partner_id: str) -> str:
    """Set of a partner's endpoint ids."""
    return f"{PREFIX}:webhooks:{partner_part(partner_id)}"


def webhook_deliveries(partner_id: str, endpoint_id: str) -> str:
    """Sorted set of delivery ids by time (capped); TTL 30 days."""
    return f"{PREFIX}:webhook-deliveries:{partner_part(partner_id)}:{endpoint_id}"


def webhook_delivery(partner_id: str, delivery_id: str) -> str:
    """One delivery (hash: message id, body, status, round, next attempt); TTL 30 days."""
    return f"{PREFIX}:webhook-delivery:{partner_part(partner_id)}:{delivery_id}"


def webhook_delivery_attempts(partner_id: str, delivery_id: str) -> str:
    """List of a delivery's attempts (JSON each, oldest first, capped); TTL 30 days."""
    return f"{PREFIX}:webhook-attempts:{partner_part(partner_id)}:{delivery_id}"


def webhook_in_flight(partner_id: str) -> str:
    """Sorted set of a partner's delivery leases (random token → when it lapses, in ms of
    Redis's clock), at most ``BFF_WEBHOOK_PARTNER_CONCURRENCY`` live; TTL
    ``WEBHOOK_LEASE_S`` from the newest lease, so the leases of a killed worker lapse."""
    return f"{PREFIX}:webhook-in-flight:{partner_part(partner_id)}"


def webhook_test_sends(partner_id: str, endpoint_id: str) -> str:
    """Counter of test sends to one endpoint in the current hour; TTL
    ``WEBHOOK_TEST_WINDOW_S``."""
    return f"{PREFIX}:webhook-tests:{partner_part(partner_id)}:{endpoint_id}"
