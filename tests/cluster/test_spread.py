"""Keys spread over the primaries by partner: 30 partners' activity logs (each partner's keys
on its own slot) leave no primary with more than 60 % of the keys."""

from __future__ import annotations

import json

import redis as sync_redis
from redis.asyncio import Redis
from redis.crc import key_slot

from app.activity.log import ActivityLog
from app.kit import keyspace
from tests.support.cluster import LocalCluster

PARTNERS = [f"partner-{n}" for n in range(30)]


async def test_thirty_partners_put_no_primary_above_sixty_percent_of_the_keys(
    redis_cluster: LocalCluster, cluster_db: Redis
):
    log = ActivityLog(cluster_db, retention_s=3600, max_events=100)
    for partner in PARTNERS:
        for n in range(3):
            body = json.dumps(
                {"type": "export.done", "timestamp": "2026-12-08T00:00:00.000Z", "data": {"n": n}}
            )
            await log.append(partner, f"msg_{partner}_{n}", "export.done", "pkg", body)
    assert keyspace.partner_part("partner-1") == "{partner-1}"  # spelled for the cluster
    counts, expected = [], []
    for node in redis_cluster.primaries():
        client = sync_redis.Redis(port=node.client_port)
        counts.append(sum(1 for _ in client.scan_iter(match="bff:activity*{partner-*")))
        client.close()
        slots = node.views()[node.client_port].slots
        # per partner: its log and three once-only markers, all on the slot of its tag
        expected.append(4 * sum(1 for p in PARTNERS if key_slot(f"{{{p}}}".encode()) in slots))
    assert counts == expected
    assert sum(counts) == len(PARTNERS) * 4
    assert max(counts) <= 0.6 * sum(counts), counts
