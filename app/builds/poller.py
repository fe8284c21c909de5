"""The status poller the worker runs: one list call per partner per interval covers all
of its watches; a terminal status is announced once per build, then the watch closes.

Where the partner's list is kept (``app/listing``: someone read it lately), a poll shares
its refreshes: it takes the kept rows when they are no older than an interval, or makes
the refresh that is due itself, so readers and polls together call the list at most once
per ``BFF_LIST_REFRESH_S``; statuses it reads by GET go to the kept rows at once.

Crash safety: the event is emitted first (``Outbox.emit`` is idempotent per
event key), then marked emitted and the watch closed, in one script. A worker killed
between the two steps leaves the watch open, and the next poll (any worker) repeats
them without announcing twice. The first webhook attempts of a poll's events
go out as one batch job after them; a worker killed before enqueuing it leaves the
deliveries pending, and the sweep sends them once their grace has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum

from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.activity.log import ActivityLog
from app.activity.outbox import Outbox
from app.builds import events
from app.builds.registry import Watch, WatchRegistry
from app.builds.schedule import PollHistory, PollSchedule
from app.builds.statuses import Observation, StatusStore
from app.kit.locks import new_token
from app.kit.retry import REDIS_DOWN, Backoff
from app.kit.settings import Settings
from app.listing.keeper import ListKeeper, PollReading
from app.upstream import CallContext, PackageBuilderClient, UpstreamError, UpstreamRejected
from app.upstream.models import TERMINAL_STATUSES, PackageHead, UpstreamPackage
from app.webhooks.dispatch import NextAttempt, enqueue_batch
from app.webhooks.models import EndpointRecord
from app.webhooks.store import WebhookStore

logger = logging.getLogger("app.watches")

MISSES_BEFORE_LOOKUP = 3  # list answers without the id before one GET asks whether it is gone
MAX_CONCURRENT_POLLS = 128  # partners one worker polls at once (a poll mostly waits on I/O)
UPSTREAM_CONCURRENCY = 8  # per poll: GETs of finished packages at once
MAX_POLL_BUDGET_S = 20.0  # bounds one partner poll (and its lock's lease)
MIN_SLEEP_S = 0.05
IDLE_LOOK_S = 1.0  # with nothing due, look again this often: a new watch is polled within it
STOP_GRACE_S = 5.0  # polls running when the worker stops may finish for this long
DEFAULT_GET_BYTES = 2048  # a GET of a build in flight, until one was measured

# A package as a poll read it: a list entry's head, or a whole GET answer.
Polled = PackageHead | UpstreamPackage


@dataclass
class PollBatch:
    """What one partner poll hands to the webhooks: the first attempts of all its events
    (one batch job) and the partner's endpoints, read once for all of them."""

    batch: list[NextAttempt] = field(default_factory=list)
    endpoints: list[EndpointRecord] | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What one poll read: each watch's package (None: not found), and the size it learned
    of a list answer or of a GET of a build in flight (a running average)."""

    packages: dict[str, Polled | None]
    list_bytes: int | None = None
    get_bytes: int | None = None


def _reading_of(kept: PollReading, watches: list[Watch]) -> Reading:
    """What the kept list says of the watches. A watch it lacks is a miss, unless the watch
    opened after the kept list was read (not read yet: left out, as a failed GET is)."""
    packages: dict[str, Polled | None] = {}
    for watch in watches:
        package = kept.packages.get(watch.package_id)
        if package is not None or watch.opened_at * 1000 < kept.observed_at_ms:
            packages[watch.package_id] = package
    return Reading(packages, list_bytes=kept.list_bytes or None)


def _ended(package: Polled | None) -> bool:
    return package is not None and package.status in TERMINAL_STATUSES


class Step(Enum):
    """What a poll does for one watch, besides nothing."""

    LOOK_UP = "look up"  # missing from the list: count a miss, and GET it after a few
    FINISH = "finish"  # ended: emit its event once, close the watch
    GIVE_UP = "give up"  # no terminal status within the watch deadline
    RESET_MISSES = "reset misses"  # seen again after a miss


def next_step(watch: Watch, package: Polled | None, now: float, deadline_s: float) -> Step | None:
    """The one place that decides what a poll does for a watch: the selection of the watches
    worth a task and ``Poller._settle`` both ask it, so they cannot disagree."""
    overdue = now - watch.opened_at > deadline_s
    if package is None and not overdue:
        return Step.LOOK_UP
    if _ended(package):
        return Step.FINISH
    if overdue:
        return Step.GIVE_UP
    if watch.misses:
        return Step.RESET_MISSES
    return None


@dataclass
class Poller:
    """Polls due partners; state lives in Redis only, so any worker can take over."""

    store: Redis
    queue: ArqRedis
    upstream: PackageBuilderClient
    settings: Settings
    registry: WatchRegistry = field(init=False)
    schedule: PollSchedule = field(init=False)
    statuses: StatusStore = field(init=False)
    lists: ListKeeper = field(init=False)
    webhooks: WebhookStore = field(init=False)
    activity: ActivityLog = field(init=False)
    outbox: Outbox = field(init=False)
    holder: str = field(init=False)  # this process's name on the poll locks it takes
    _polling: set[str] = field(init=False)  # partners this process is polling now

    def __post_init__(self) -> None:
        """Stores (and their Lua scripts) are made once: one Poller per worker process."""
        self.webhooks = WebhookStore(self.store)
        self.registry = WatchRegistry(self.store)
        self.schedule = self.registry.schedule
        self.activity = ActivityLog.of(self.store, self.settings)
        self.outbox = Outbox(self.store, self.activity, self.webhooks, self.queue)
        self.statuses = StatusStore(self.store, self.outbox)
        self.lists = ListKeeper(self.store, self.upstream, self.settings)
        self.holder = new_token()
        self._polling = set()

    @property
    def poll_budget_s(self) -> float:
        """Long enough for a list call and the GETs after it, retries included."""
        s = self.settings
        return min(MAX_POLL_BUDGET_S, s.upstream_timeout_s * (s.upstream_retries + 1) * 2 + 3)

    @property
    def lease_s(self) -> float:
        """The poll lock outlives the poll, so two workers never poll one partner at once."""
        return self.poll_budget_s + 5

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll due partners until ``stopping`` is set. Every worker runs this loop: a due
        partner goes to the worker that claims it first, so polls spread over the workers
        (a busy worker looks less often and leaves more to the others). Between looks it
        sleeps until the next due time, at most ``IDLE_LOOK_S``. Redis outages are logged
        once and waited out with backoff. Polls still running when it stops get
        ``STOP_GRACE_S`` to finish, then are cancelled (safe: see the module docstring)."""
        running: set[asyncio.Task[None]] = set()
        backoff = Backoff(cap_s=IDLE_LOOK_S)  # polling resumes within a second of Redis
        down = False
        try:
            while not stopping.is_set():
                try:
                    wait = await self._start_due(running)
                except REDIS_DOWN as exc:
                    if not down:
                        logger.warning("status polling waits for redis: %r", exc)
                    down = True
                    wait = backoff.next_delay()
                except Exception:
                    logger.exception("status poller failed; looking again shortly")
                    wait = backoff.next_delay()
                else:
                    if down:
                        logger.info("status polling resumed")
                    down = False
                    backoff.reset()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await stopping.wait()
        finally:
            await _drain(running, STOP_GRACE_S)

    async def _start_due(self, running: set[asyncio.Task[None]]) -> float:
        """Claim due partners and start a poll of each (at most ``MAX_CONCURRENT_POLLS`` at
        once); returns how long to sleep before looking again."""
        due = await self.schedule.due(MAX_CONCURRENT_POLLS)
        for partner_id in due.partners:
            if len(running) >= MAX_CONCURRENT_POLLS:
                return MIN_SLEEP_S  # full: look again when some have ended
            claimed = await self.schedule.claim(
                partner_id,
                self.holder,
                interval_s=self.settings.poll_interval_s,
                lease_s=self.lease_s,
                take_back=partner_id not in self._polling,
            )
            if claimed:
                self._polling.add(partner_id)
                task = asyncio.create_task(self._poll_claimed(partner_id))
                running.add(task)
                task.add_done_callback(running.discard)
        if due.next_due_in_s is None:
            return IDLE_LOOK_S
        return min(IDLE_LOOK_S, max(MIN_SLEEP_S, due.next_due_in_s))

    async def _poll_claimed(self, partner_id: str) -> None:
        try:
            async with asyncio.timeout(self.poll_budget_s):
                await self.poll_partner(partner_id)
        except TimeoutError:
            logger.warning(
                "status poll of partner %s took over %.0f s; retrying next interval",
                partner_id,
                self.poll_budget_s,
            )
        except (UpstreamError, RedisError) as exc:  # expected in outages: one line, no trace
            logger.warning("status poll of partner %s failed, retrying next interval: %r", partner_id, exc)
        except Exception:
            logger.exception("status poll of partner %s failed", partner_id)
        finally:
            try:
                await asyncio.shield(self.schedule.release(partner_id, self.holder))
            except Exception:  # this process takes it back when the partner is next due
                logger.warning("could not release the poll lock of %s", partner_id)
            finally:
                self._polling.discard(partner_id)

    # -- one partner ------------------------------------------------------------------------

    async def poll_partner(self, partner_id: str) -> None:
        """All of the partner's watches in one go: one ``GET /package_builder/packages/``,
        or one GET per watch when that fetches fewer bytes (a long history and few builds
        in flight); the list's size is learned from its last answer."""
        watches = await self.registry.watches(partner_id)
        if not watches:
            await self.registry.forget_if_idle(partner_id)
            return
        ctx = self.service_context(partner_id)
        history = await self.schedule.record_poll(partner_id)
        observed_at = await self.registry.clock_ms()
        limit = asyncio.Semaphore(UPSTREAM_CONCURRENCY)
        by_get = history.prefers_gets(len(watches), DEFAULT_GET_BYTES)
        kept = await self.lists.for_poll(ctx, [watch.package_id for watch in watches], may_refresh=not by_get)
        if kept is not None and (kept.fresh or not by_get):
            reading, observed_at, by_get = _reading_of(kept, watches), kept.observed_at_ms, False
        elif by_get:
            reading = await self._read_each(watches, ctx, limit, history)
        else:
            reading = await self._read_list(watches, ctx)
        read = reading.packages
        observed = [package for package in read.values() if package is not None]
        await self.statuses.observe_many(
            partner_id, observed, observed_at_ms=observed_at, previous_poll_ms=history.complete_at_ms
        )
        if by_get and kept is not None:  # read after the kept list: its rows show them at once
            await self.lists.observe(partner_id, observed, observed_at)
        complete = len(read) == len(watches) and all(package is not None for package in read.values())
        await self.schedule.record_outcome(
            partner_id,
            list_bytes=reading.list_bytes,
            get_bytes=reading.get_bytes,
            complete_at_ms=observed_at if complete else None,
            gets=len(watches) if by_get else 0,
        )
        # Only watches with something to do get a task: a build still running, read, with no
        # misses to reset and within its deadline (most of them, every poll) needs nothing.
        now = time.time()
        settled = [
            watch
            for watch in watches
            if watch.package_id in read
            and next_step(watch, read[watch.package_id], now, self.settings.watch_deadline_s) is not None
        ]
        poll_batch = PollBatch()
        if any(_ended(read[watch.package_id]) for watch in settled):
            poll_batch.endpoints = await self.webhooks.list_endpoints(partner_id)
        results = await asyncio.gather(
            *(self._settle(watch, read[watch.package_id], ctx, limit, poll_batch) for watch in settled),
            return_exceptions=True,
        )
        await enqueue_batch(self.queue, partner_id, poll_batch.batch, f"{partner_id}:{uuid.uuid4().hex}")
        for watch, result in zip(settled, results, strict=True):
            if isinstance(result, Exception):
                logger.warning("watch %s/%s stays open: %r", partner_id, watch.package_id, result)
            elif isinstance(result, BaseException):
                raise result

    async def _read_list(self, watches: list[Watch], ctx: CallContext) -> Reading:
        """No list is kept for the partner (nobody read it lately): one list call of its own.
        Only the fields a poll needs are parsed. A watch the list lacks reads None
        (``_settle`` counts it as a miss)."""
        listed = await self.upstream.list_package_heads(ctx)
        heads = {head.id: head for head in listed.value}
        return Reading(
            {watch.package_id: heads.get(watch.package_id) for watch in watches}, list_bytes=listed.size
        )

    async def _read_each(
        self, watches: list[Watch], ctx: CallContext, limit: asyncio.Semaphore, history: PollHistory
    ) -> Reading:
        """One GET per watch; a finished build's answer already carries its content. A 404
        reads None (a miss); another failure leaves the watch out (it stays as it is)."""
        sizes: list[int] = []

        async def read(watch: Watch) -> Polled | None:
            try:
                async with limit:
                    answer = await self.upstream.get_package_sized(ctx, watch.package_id)
            except UpstreamRejected as exc:
                if exc.status != 404:
                    raise
                return None
            if answer.value.status not in TERMINAL_STATUSES:
                sizes.append(answer.size)
            return answer.value

        results = await asyncio.gather(*(read(watch) for watch in watches), return_exceptions=True)
        read_: dict[str, Polled | None] = {}
        for watch, result in zip(watches, results, strict=True):
            if isinstance(result, Exception):
                logger.warning("status of %s/%s not read: %r", ctx.partner_id, watch.package_id, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                read_[watch.package_id] = result
        learned = None
        if sizes:
            average = sum(sizes) // len(sizes)
            learned = average if history.get_bytes is None else (history.get_bytes * 3 + average) // 4
        return Reading(read_, get_bytes=learned)

    def service_context(self, partner_id: str) -> CallContext:
        """The worker's own identity upstream, acting for the package's partner."""
        token = self.settings.upstream_service_token
        if token is None:
            logger.warning("BFF_UPSTREAM_SERVICE_TOKEN is not set: the upstream will refuse polls")
        return CallContext.of_service(token, partner_id, f"watch-{uuid.uuid4().hex[:16]}")

    async def _settle(
        self,
        watch: Watch,
        package: Polled | None,
        ctx: CallContext,
        limit: asyncio.Semaphore,
        poll_batch: PollBatch,
    ) -> None:
        """Finish a watch whose build ended, keep the others (counting misses)."""
        now, deadline_s = time.time(), self.settings.watch_deadline_s
        step = next_step(watch, package, now, deadline_s)
        if step is Step.LOOK_UP:
            package = await self._look_up_missing(watch, ctx, limit)
            if package is None:
                return
            step = next_step(watch, package, now, deadline_s)
        if step is Step.FINISH:
            assert package is not None
            await self._finish(watch, package, ctx, limit, poll_batch)
        elif step is Step.GIVE_UP:
            logger.warning(
                "giving up on %s/%s: no terminal status within %.0f s",
                watch.partner_id,
                watch.package_id,
                self.settings.watch_deadline_s,
            )
            await self.registry.close(watch)
        elif step is Step.RESET_MISSES:
            await self.registry.set_misses(watch, 0)

    async def _look_up_missing(
        self, watch: Watch, ctx: CallContext, limit: asyncio.Semaphore
    ) -> UpstreamPackage | None:
        """Not in the list (yet?): after a few misses, one GET tells "gone" (404) apart."""
        misses = watch.misses + 1
        if misses < MISSES_BEFORE_LOOKUP:
            await self.registry.set_misses(watch, misses)
            return None
        observed_at = await self.registry.clock_ms()
        try:
            async with limit:
                package = await self.upstream.get_package(ctx, watch.package_id)
        except UpstreamRejected as exc:
            if exc.status != 404:
                raise
            logger.warning(
                "watched package %s/%s no longer exists; closing its watch",
                watch.partner_id,
                watch.package_id,
            )
            await self.registry.close(watch)
            return None
        await self.statuses.observe(watch.partner_id, Observation.of(package, observed_at))
        await self.lists.observe(watch.partner_id, [package], observed_at)
        return package

    async def _finish(
        self,
        watch: Watch,
        polled: Polled,
        ctx: CallContext,
        limit: asyncio.Semaphore,
        poll_batch: PollBatch,
    ) -> None:
        """Dispatch (idempotent), then mark and close in one step: safe to repeat after a
        crash at any point."""
        status = polled.status
        if not await self.registry.emitted(watch, status):
            if isinstance(polled, UpstreamPackage):
                package = polled
            elif status == "DONE":  # the list has no content: one GET for the event's clusters
                async with limit:
                    package = await self.upstream.get_package(ctx, watch.package_id)
                if package.status != status:
                    return  # moved on meanwhile; the next poll sees the new status
            else:
                package = UpstreamPackage.model_validate(polled.model_dump())
            await self.outbox.emit(
                watch.partner_id,
                events.event_type(status),
                events.event_key(watch, status),
                watch.package_id,
                events.event_data(package, watch.partner_id, status, self.settings.public_base),
                batch=poll_batch.batch,
                endpoints=poll_batch.endpoints,
            )
        if await self.registry.finish(watch, status):
            logger.info(
                "emitted %s for %s/%s (build %s)",
                events.event_type(status),
                watch.partner_id,
                watch.package_id,
                watch.generation,
            )


async def _drain(running: set[asyncio.Task[None]], grace_s: float) -> None:
    """Let running polls finish for ``grace_s``, then cancel the rest and wait for them."""
    if not running:
        return
    _, late = await asyncio.wait(set(running), timeout=grace_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
