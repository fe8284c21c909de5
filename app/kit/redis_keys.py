"""Every Redis key the BFF writes, in one place, with its lifetime.

Fixed TTLs are constants here; the others name the setting that gives them. All keys are
prefixed ``bff:`` and, where they hold a partner's data, carry the partner id, so one
partner can never read another's entry by accident.
"""

from __future__ import annotations

from hashlib import sha256

PREFIX = "bff"


def key_part(value: str) -> str:
    """Partner ids, subs and user keys go into keys as they are when short and plain
    (``[A-Za-z0-9_-]``), else hashed behind ``~``, a character no plain part has: a raw id
    can never land in the namespace of a hashed one."""
    if value and value.isascii() and value.replace("-", "").replace("_", "").isalnum() and len(value) <= 64:
        return value
    return "~" + sha256(value.encode()).hexdigest()[:32]


# -- caches -------------------------------------------------------------------------------
def evaluation_cache(partner_id: str, package_id: str) -> str:
    """JSON of settings + results; TTL ``BFF_EVALUATION_CACHE_TTL_S``; deleted by PUT."""
    return f"{PREFIX}:cache:evaluation:{key_part(partner_id)}:{key_part(package_id)}"


def package_view_cache(partner_id: str, package_id: str) -> str:
    """JSON of a DONE package's results view; deleted by regenerate and by new evaluation
    settings, else kept ``PACKAGE_VIEW_TTL_S``."""
    return f"{PREFIX}:cache:view:{key_part(partner_id)}:{key_part(package_id)}"


def evaluation_lock(partner_id: str, package_id: str) -> str:
    """Held while a conditional (If-Match) settings change reads, compares and writes."""
    return f"{PREFIX}:lock:evaluation:{key_part(partner_id)}:{key_part(package_id)}"


EVALUATION_LOCK_TTL_S = 15


def events_cache(partner_id: str, query_hash: str) -> str:
    """Event search answers; TTL ``BFF_EVENTS_CACHE_TTL_S``."""
    return f"{PREFIX}:cache:events:{key_part(partner_id)}:{query_hash}"


def cache_lock(cache_key: str) -> str:
    """Single-flight lock for filling ``cache_key`` across processes; TTL seconds."""
    return f"{cache_key}:lock"


def cache_generation(cache_key: str) -> str:
    """Counter bumped by every invalidation, so a fill that started before it never writes."""
    return f"{cache_key}:gen"


# Bounds how long a DONE view can miss the upstream's DONE → EXPIRED; stays ≤ 10 min, as views
# will embed signed links that live about 15 minutes.
PACKAGE_VIEW_TTL_S = 600
CACHE_LOCK_TTL_S = 15
CACHE_GENERATION_TTL_S = 24 * 3600


# -- the kept package list ----------------------------------------------------------------
# Every key of a partner's kept list expires ``BFF_LIST_TTL_S`` after the partner's last list
# read (reads renew them at most once per ``BFF_LIST_REFRESH_S``); the lock lives its lease.
def list_meta(partner_id: str) -> str:
    """Hash: ``at`` (Redis ms when the upstream read of the kept rows began), ``next`` (no
    refresh is claimed before it), ``read`` (the last read that renewed the TTLs), ``digest``
    (of the rows as the last refresh wrote them; absent once a row changed since)."""
    return f"{PREFIX}:list:{key_part(partner_id)}:meta"


def list_lock(partner_id: str) -> str:
    """SET NX PX: the one refresh of the partner's list in flight; TTL its lease."""
    return f"{PREFIX}:list:{key_part(partner_id)}:lock"


def list_rows(partner_id: str) -> str:
    """Hash package id → ``<position stamp><status code><row JSON>``."""
    return f"{PREFIX}:list:{key_part(partner_id)}:rows"


def list_search(partner_id: str) -> str:
    """Hash package id → casefolded id and title, what ``q`` is matched against."""
    return f"{PREFIX}:list:{key_part(partner_id)}:search"


def list_touched(partner_id: str) -> str:
    """Hash package id → Redis ms of a read newer than the last refresh's (the BFF's own
    write, a status the worker observed): a refresh that began earlier leaves the row be."""
    return f"{PREFIX}:list:{key_part(partner_id)}:touched"


def list_order(partner_id: str, status: str | None = None) -> str:
    """Sorted set (all scores 0) of row positions, newest last in byte order: every row, or
    (with ``status``) the rows of one status."""
    base = f"{PREFIX}:list:{key_part(partner_id)}:order"
    return base if status is None else f"{base}:{status}"


# -- drafts -------------------------------------------------------------------------------
def draft(partner_id: str, sub: str, draft_id: str) -> str:
    """One wizard draft (hash); sliding TTL ``BFF_DRAFT_TTL_S``."""
    return f"{PREFIX}:draft:{key_part(partner_id)}:{key_part(sub)}:{key_part(draft_id)}"


def draft_index(partner_id: str, sub: str) -> str:
    """Sorted set of the caller's draft ids by update time; same TTL as drafts."""
    return f"{PREFIX}:drafts:{key_part(partner_id)}:{key_part(sub)}"


# -- idempotency --------------------------------------------------------------------------
def idempotency(partner_id: str, caller: str, scope: str, key: str) -> str:
    """Stored first answer for (partner, caller ``sub``, operation, Idempotency-Key); TTL 24 h.
    Another user of the partner with the same key is another request."""
    return f"{PREFIX}:idem:{key_part(partner_id)}:{key_part(caller)}:{scope}:{key_part(key)}"


def idempotency_in_flight(partner_id: str, caller: str, scope: str, key: str) -> str:
    """Marker (SET NX) of the request now executing for that key; short TTL, so a crash frees it."""
    return f"{idempotency(partner_id, caller, scope, key)}:in-flight"


def idempotency_bytes(partner_id: str, hour: int) -> str:
    """Bytes of answers the partner stored in one hour (Unix hours); TTL 25 h: the last 24 of
    them bound what its live records (24 h each) can hold."""
    return f"{PREFIX}:idem-bytes:{key_part(partner_id)}:{hour}"


IDEMPOTENCY_TTL_S = 24 * 3600
IDEMPOTENCY_IN_FLIGHT_TTL_S = 60
IDEMPOTENCY_BUDGET_HOURS = 24
IDEMPOTENCY_BYTES_TTL_S = 25 * 3600


# -- watches and live status --------------------------------------------------------------
# Sorted set: partner id → when its next poll is due (unix seconds); no TTL (removed on end).
WATCH_PARTNERS = f"{PREFIX}:watch:partners"


def watch_set(partner_id: str) -> str:
    """Hash package_id → watch JSON of a partner's open watches; no TTL (removed on end)."""
    return f"{PREFIX}:watch:open:{key_part(partner_id)}"


def watch_generation(partner_id: str, package_id: str) -> str:
    """Build counter of a package, bumped by regenerate; TTL ``WATCH_GENERATION_TTL_S``."""
    return f"{PREFIX}:watch:generation:{key_part(partner_id)}:{key_part(package_id)}"


def watch_poll_lock(partner_id: str) -> str:
    """SET NX PX lock: one worker polls a partner at a time; TTL = the poll lease."""
    return f"{PREFIX}:watch:lock:{key_part(partner_id)}"


def watch_poll_stats(partner_id: str) -> str:
    """Hash of a partner's status polls: ``polls``, ``last_polled_at``, the bytes its calls
    weighed (``list_bytes``, ``get_bytes``), when the last complete poll began
    (``complete_at_ms``, Redis clock) and the package GETs polls made (``polled_by_get``);
    TTL ``WATCH_POLL_STATS_TTL_S``."""
    return f"{PREFIX}:watch:polls:{key_part(partner_id)}"


WATCH_POLL_STATS_TTL_S = 7 * 24 * 3600


def worker_health(host: str) -> str:
    """arq's health check of the workers on one host (pod): written by each every
    ``health_check_interval``, TTL that + 1 s; read by ``arq --check`` on the same host."""
    return f"{PREFIX}:worker:health:{key_part(host)}"


EMITTED_EVENT_TTL_S = 30 * 24 * 3600
WATCH_GENERATION_TTL_S = 90 * 24 * 3600  # outlives the emitted markers it numbers
PACKAGE_STATUS_TTL_S = 7 * 24 * 3600


def package_status(partner_id: str, package_id: str) -> str:
    """Last status seen by the worker (JSON with a sequence number); TTL 7 days."""
    return package_status_prefix(partner_id) + key_part(package_id)


def status_channel(partner_id: str, package_id: str) -> str:
    """Pub/sub channel of status changes, read by the SSE endpoint."""
    return status_channel_prefix(partner_id) + key_part(package_id)


def package_status_prefix(partner_id: str) -> str:
    """What ``package_status`` puts before the package part (the status scripts derive a
    package's channel from its key: ``status_channel_prefix`` + the rest of the key)."""
    return f"{PREFIX}:status:{key_part(partner_id)}:"


def status_channel_prefix(partner_id: str) -> str:
    return f"{PREFIX}:status-changes:{key_part(partner_id)}:"


def emitted_event(partner_id: str, package_id: str, status: str, generation: str) -> str:
    """Set-once marker: the terminal event of one build was emitted; TTL 30 days."""
    return f"{PREFIX}:emitted:{key_part(partner_id)}:{key_part(package_id)}:{status}:{generation}"


# -- webhooks -----------------------------------------------------------------------------
def webhook_endpoint(partner_id: str, endpoint_id: str) -> str:
    """One endpoint (hash: url, event types, secrets, enabled, failure streak); no TTL."""
    return f"{PREFIX}:webhook:{key_part(partner_id)}:{endpoint_id}"


def webhook_index(partner_id: str) -> str:
    """Set of a partner's endpoint ids."""
    return f"{PREFIX}:webhooks:{key_part(partner_id)}"


def webhook_deliveries(partner_id: str, endpoint_id: str) -> str:
    """Sorted set of delivery ids by time (capped); TTL 30 days."""
    return f"{PREFIX}:webhook-deliveries:{key_part(partner_id)}:{endpoint_id}"


def webhook_delivery(partner_id: str, delivery_id: str) -> str:
    """One delivery (hash: message id, body, status, round, next attempt); TTL 30 days."""
    return f"{PREFIX}:webhook-delivery:{key_part(partner_id)}:{delivery_id}"


def webhook_delivery_attempts(partner_id: str, delivery_id: str) -> str:
    """List of a delivery's attempts (JSON each, oldest first, capped); TTL 30 days."""
    return f"{PREFIX}:webhook-attempts:{key_part(partner_id)}:{delivery_id}"


def webhook_in_flight(partner_id: str) -> str:
    """Sorted set of a partner's delivery leases (random token → when it lapses, in ms of
    Redis's clock), at most ``BFF_WEBHOOK_PARTNER_CONCURRENCY`` live; TTL
    ``WEBHOOK_LEASE_S`` from the newest lease, so the leases of a killed worker lapse."""
    return f"{PREFIX}:webhook-in-flight:{key_part(partner_id)}"


# Longer than the webhook jobs' arq timeout: a job releases its leases on the way out, even
# when arq cancels it at that timeout, so only a killed worker's leases are left to lapse.
WEBHOOK_LEASE_S = 40


# Sorted set "<delivery_id>:<partner_id>" → when its next attempt is due (unix seconds);
# no TTL (members leave when the delivery ends). Swept to re-enqueue jobs that were lost.
WEBHOOK_PENDING = f"{PREFIX}:webhook-pending"
WEBHOOK_DELIVERY_TTL_S = 30 * 24 * 3600


# -- exports ------------------------------------------------------------------------------
def export(partner_id: str, export_id: str) -> str:
    """One CRM export's status (JSON); TTL ``EXPORT_TTL_S``."""
    return f"{PREFIX}:export:{key_part(partner_id)}:{export_id}"


def export_index(partner_id: str, package_id: str | None = None) -> str:
    """Sorted set of a partner's export ids by creation time (one more per package, for the
    ``package_id`` filter); TTL ``EXPORT_TTL_S`` from the last export."""
    base = f"{PREFIX}:exports:{key_part(partner_id)}"
    return base if package_id is None else f"{base}:{key_part(package_id)}"


EXPORT_TTL_S = 30 * 24 * 3600


# -- limits -------------------------------------------------------------------------------
def rate_limit(partner_id: str) -> str:
    """Token bucket of a partner (hash: tokens, at); expires once it would be full again."""
    return f"{PREFIX}:ratelimit:{key_part(partner_id)}"


def rate_limit_subject(subject: str) -> str:
    """Token bucket of an acting subject (a token's ``sub``), across the partners it acts for."""
    return f"{PREFIX}:ratelimit-subject:{key_part(subject)}"


def webhook_test_sends(partner_id: str, endpoint_id: str) -> str:
    """Counter of test sends to one endpoint in the current hour; TTL 1 hour."""
    return f"{PREFIX}:webhook-tests:{key_part(partner_id)}:{endpoint_id}"


WEBHOOK_TEST_WINDOW_S = 3600


# -- activity log (app/activity) ------------------------------------------------------------
def activity_log(partner_id: str) -> str:
    """Stream of every event emitted for the partner, oldest first; entries older than
    ``BFF_ACTIVITY_RETENTION_S`` are trimmed at each append, and the whole key expires that
    long after the last one (an idle partner keeps nothing)."""
    return f"{PREFIX}:activity:{key_part(partner_id)}"


def activity_seen(partner_id: str, message_id: str) -> str:
    """Set-once marker of an event appended (its entry id): a retried dispatch appends once;
    TTL ``BFF_ACTIVITY_RETENTION_S``."""
    return f"{PREFIX}:activity-seen:{key_part(partner_id)}:{key_part(message_id)}"


def activity_channel(partner_id: str) -> str:
    """Pub/sub channel of the partner's appends (``prev-id new-id item``), read by its
    activity streams through the process's one subscription."""
    return f"{PREFIX}:activity-changes:{key_part(partner_id)}"


def activity_consumers(partner_id: str) -> str:
    """Hash: named consumer → its position in the log; TTL ``BFF_ACTIVITY_RETENTION_S`` after
    the last poll or seek of any of them."""
    return f"{PREFIX}:activity-consumers:{key_part(partner_id)}"


def outbox(partner_id: str) -> str:
    """Stream of the partner's events recorded and not yet published (logged and handed to
    the webhooks): ``type``, ``key``, ``pkg``, ``at`` (Redis ms), ``data`` (JSON); entries are
    deleted once published; TTL ``BFF_ACTIVITY_RETENTION_S`` after the last record."""
    return f"{PREFIX}:outbox:{key_part(partner_id)}"


OUTBOX_PARTNERS = f"{PREFIX}:outbox-partners"
"""Sorted set: partner → Redis ms of its latest record. Marked before each record, so the
worker's sweep finds the outbox of a process killed before publishing; a partner is removed
once its outbox is empty and no record came since."""
