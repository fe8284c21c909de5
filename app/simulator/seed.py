"""Per-partner seed data: what a partner sees the first time it calls the simulator.

Three DONE packages (the third merged from the first two) and one EXPIRED, created in the
past. Titles, events and clusters are derived from the partner id; ids come from the global
counter, so they depend on the order partners are first seen.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from app.simulator.catalog import sample_events, stable_hash
from app.simulator.state import EXPIRED, Build, Package, Store

_TITLES = (
    "Munich shows Q3", "Summer open airs", "Jazz lovers 2025", "Christmas classics",
    "Techno nights", "Family weekend", "Oktoberfest warm-up", "Season openers",
)  # fmt: skip
_DAYS_AGO = (30, 20, 10, 45)


def default_filters() -> dict[str, Any]:
    """The seven filter fields of the guide's create payload, all neutral."""
    return {
        "included_customers": [],
        "excluded_customers": [],
        "exclude_buying_behavior_above": None,
        "exclude_buying_behavior_below": None,
        "exclude_old_purchases_before": None,
        "exclude_recent_purchases_after": None,
        "exclude_ticket_categories": [],
    }


def seed_partner(store: Store, partner_id: str) -> None:
    """Give a new partner 3 DONE packages (one a merge of the other two) and 1 EXPIRED."""
    now = store.clock()
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    offset = stable_hash("titles", partner_id)
    titles = [_TITLES[(offset + index) % len(_TITLES)] for index in range(4)]
    packages: list[Package] = []
    for index, title in enumerate(titles):
        seed_key = f"seed:{partner_id}:{index}"
        hour = stable_hash(seed_key, "hour") % 12
        package = Package(
            id=store.next_id(),
            partner_id=partner_id,
            title=title,
            created_at=midnight - timedelta(days=_DAYS_AGO[index], hours=-(8 + hour)),
            targeting_mode="lookalike",
            filter_settings=default_filters(),
            events=sample_events(seed_key, 2 + index % 2),
            num_packages=3,
            build=Build(started_at=now, seconds=0.0, fails=False),
            seed_key=seed_key,
        )
        packages.append(store.add(package))
    first, second, merged, expired = packages
    merged.merge_id = f"{first.id}_{second.id}"
    merged.events = list({event["id"]: event for event in first.events + second.events}.values())
    store.force(expired, EXPIRED)
