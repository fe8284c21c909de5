"""The in-memory store and the build lifecycle.

Status is computed lazily from the clock (no background tasks): a build is INITIALIZING for
the first 10% of its duration, INPROGRESS after that, then DONE or FAILED (decided when the
build starts), and a DONE package turns EXPIRED `expire_after_s` later. A forced status
(control endpoints, seeding) overrides the clock until the package is regenerated.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.simulator.catalog import pick_clusters, stable_hash
from app.simulator.settings import SimulatorSettings

INITIALIZING, INPROGRESS, DONE, FAILED, EXPIRED = (
    "INITIALIZING", "INPROGRESS", "DONE", "FAILED", "EXPIRED",
)  # fmt: skip
_DEFAULT_PROGRESS = {INITIALIZING: 0, INPROGRESS: 50, DONE: 100, FAILED: 0, EXPIRED: 100}
FIRST_PACKAGE_ID = 1001


class PackageNotFound(LookupError):
    """Unknown id, or a package of another partner: both are a 404."""


class WrongStatus(Exception):
    """The package exists but its status does not allow the operation: a 409."""


@dataclass
class SimConfig:
    """The knobs `/_sim/config` can change at runtime."""

    build_seconds: float
    expire_after_s: float
    fail_rate: float
    seed_partners: bool


@dataclass
class Build:
    started_at: float
    seconds: float  # snapshot of build_seconds: changing the config does not rewind old builds
    fails: bool
    generation: int = 0


@dataclass(frozen=True)
class ClusterStats:
    customers: int
    items: int
    purchase: int


@dataclass
class EvaluationSettings:
    window: int = 7
    model: str = "EVENTS_FROM_PACKAGE"
    email_sent_date: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "backhaul_evaluation_attribution_window": self.window,
            "backhaul_evaluation_model": self.model,
            "email_sent_date": self.email_sent_date,
        }


@dataclass
class Package:
    id: str
    partner_id: str
    title: str
    created_at: datetime
    targeting_mode: str
    filter_settings: dict[str, Any]
    events: list[dict[str, Any]]
    num_packages: int
    build: Build
    merge_id: str | None = None
    seed_key: str = ""  # seeded packages derive their data from the partner, not the id
    fixed_clusters: list[str] | None = None
    customers_per_cluster: int | None = None
    forced_status: str | None = None
    forced_progress: int | None = None
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)

    @property
    def data_seed(self) -> str:
        return f"{self.seed_key or self.id}:{self.build.generation}"

    def clusters(self) -> list[str]:
        if self.fixed_clusters is not None:
            return list(self.fixed_clusters)
        return pick_clusters(self.data_seed, self.num_packages)

    def cluster_stats(self) -> dict[str, ClusterStats]:
        return {tc: self._stats_for(tc) for tc in self.clusters()}

    def _stats_for(self, tc: str) -> ClusterStats:
        digest = stable_hash(self.data_seed, tc)
        customers = self.customers_per_cluster
        if customers is None:
            customers = 120 + digest % 1900
        items = customers * (1 + (digest >> 8) % 3) + (digest >> 12) % 7 if customers else 0
        return ClusterStats(customers, items, items * (25 + (digest >> 16) % 120))


def lifecycle(package: Package, now: float, expire_after_s: float) -> tuple[str, int]:
    """(status, progress) of a package at `now`."""
    if package.forced_status is not None:
        progress = package.forced_progress
        if progress is None:
            progress = _DEFAULT_PROGRESS[package.forced_status]
        return package.forced_status, progress
    build = package.build
    elapsed = now - build.started_at
    if elapsed < 0.1 * build.seconds:
        return INITIALIZING, 0
    if elapsed < build.seconds:
        return INPROGRESS, min(99, max(1, int(100 * elapsed / build.seconds)))
    if build.fails:
        return FAILED, 0
    if elapsed - build.seconds >= expire_after_s:
        return EXPIRED, 100
    return DONE, 100


class Store:
    """All packages of all partners, plus received exports; one event loop, plain dicts."""

    def __init__(self, settings: SimulatorSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self.clock = clock
        self.on_new_partner: Callable[[Store, str], None] | None = None
        self.revision = 0  # bumped by every change a kept state file must see
        self.reset()

    def reset(self) -> None:
        settings = self._settings
        self.config = SimConfig(
            settings.build_seconds, settings.expire_after_s, settings.fail_rate, settings.seed_partners
        )
        self.packages: dict[str, Package] = {}
        self._by_partner: dict[str, dict[str, Package]] = {}  # lists stay cheap with many partners
        self.partners: set[str] = set()
        self.exports: list[dict[str, Any]] = []
        self.next_package_id = FIRST_PACKAGE_ID
        self._rng = random.Random(settings.seed)
        self.revision += 1

    def ensure_partner(self, partner_id: str) -> None:
        """Seed a partner the first time it is seen (if seeding is on)."""
        if partner_id in self.partners:
            return
        self.partners.add(partner_id)
        self.revision += 1
        if self.config.seed_partners and self.on_new_partner is not None:
            self.on_new_partner(self, partner_id)

    def next_id(self) -> str:
        package_id = str(self.next_package_id)
        self.next_package_id += 1
        return package_id

    def new_build(self, title: str, seconds: float | None = None) -> Build:
        fails = "[fail]" in title.lower() or self._rng.random() < self.config.fail_rate
        duration = self.config.build_seconds if seconds is None else seconds
        return Build(started_at=self.clock(), seconds=duration, fails=fails)

    def add(self, package: Package) -> Package:
        self.packages[package.id] = package
        self._by_partner.setdefault(package.partner_id, {})[package.id] = package
        self.revision += 1
        return package

    def get(self, partner_id: str, package_id: str) -> Package:
        package = self.packages.get(package_id)
        if package is None or package.partner_id != partner_id:
            raise PackageNotFound(package_id)
        return package

    def find(self, package_id: str) -> Package:
        package = self.packages.get(package_id)
        if package is None:
            raise PackageNotFound(package_id)
        return package

    def of_partner(self, partner_id: str) -> list[Package]:
        return list(self._by_partner.get(partner_id, {}).values())

    def status(self, package: Package) -> tuple[str, int]:
        """Current (status, progress); EXPIRED latches so a later config change cannot revive it."""
        status, progress = lifecycle(package, self.clock(), self.config.expire_after_s)
        if status == EXPIRED and package.forced_status is None:
            package.forced_status, package.forced_progress = EXPIRED, None
        return status, progress

    def require_status(self, package: Package, *allowed: str) -> str:
        status, _ = self.status(package)
        if status not in allowed:
            raise WrongStatus(f"package {package.id} is {status}, needs {' or '.join(allowed)}")
        return status

    def create(
        self,
        partner_id: str,
        *,
        title: str,
        targeting_mode: str,
        filter_settings: dict[str, Any],
        events: list[dict[str, Any]],
        num_packages: int,
        merge_id: str | None = None,
        fixed_clusters: list[str] | None = None,
        customers_per_cluster: int | None = None,
        build_seconds: float | None = None,
    ) -> Package:
        """A new package whose build starts now (and lasts ``build_seconds``, or the config's)."""
        package = Package(
            id=self.next_id(),
            partner_id=partner_id,
            title=title,
            created_at=datetime.fromtimestamp(self.clock(), UTC),
            targeting_mode=targeting_mode,
            filter_settings=filter_settings,
            events=events,
            num_packages=num_packages,
            build=self.new_build(title, build_seconds),
            merge_id=merge_id,
            fixed_clusters=fixed_clusters,
            customers_per_cluster=customers_per_cluster,
        )
        return self.add(package)

    def merge(self, partner_id: str, package_ids: list[str]) -> Package:
        sources = [self.get(partner_id, package_id) for package_id in package_ids]
        events = list({event["id"]: event for source in sources for event in source.events}.values())
        return self.create(
            partner_id,
            title="Merge of " + " + ".join(source.title for source in sources),
            targeting_mode=sources[0].targeting_mode,
            filter_settings=dict(sources[0].filter_settings),
            events=events,
            num_packages=max(source.num_packages for source in sources),
            merge_id="_".join(package_ids),
        )

    def regenerate(self, package: Package) -> None:
        """Only an EXPIRED package can be rebuilt; it re-enters INITIALIZING with fresh data."""
        self.require_status(package, EXPIRED)
        generation = package.build.generation + 1
        package.build = self.new_build(package.title)
        package.build.generation = generation
        package.forced_status = package.forced_progress = None
        self.revision += 1

    def force(self, package: Package, status: str, progress: int | None = None) -> None:
        package.forced_status, package.forced_progress = status, progress
        self.revision += 1
