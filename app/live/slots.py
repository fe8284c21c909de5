"""How many event streams this process holds open: per partner, per acting subject (a
token's ``sub``: a token for several partners cannot multiply the partner cap), and in all.

An open stream costs this process memory and a file descriptor for as long as it lasts,
and nothing elsewhere (no upstream call, no Redis connection of its own): so the caps count
what the process that pays holds. A partner behind a load balancer may hold its cap on
each replica; what every replica keeps for the other partners is its process cap less one
partner's.
"""

from __future__ import annotations

import contextlib
import logging
import resource
from collections.abc import Iterator

from app.kit.errors import TooManyRequests
from app.kit.settings import Settings

logger = logging.getLogger("app.live")

PARTNER_RETRY_AFTER_S = 30  # only the partner's own streams ending frees one of its slots
PROCESS_RETRY_AFTER_S = 5  # any stream ending frees one, and a retry may reach another replica
FD_HEADROOM = 256  # descriptors kept for other requests, log files, DNS, the pub/sub connection


class StreamSlots:
    """Counts of open streams. ``hold`` takes a slot for the life of a ``with`` block.

    Safe without a lock: taking and releasing never await, so on the event loop no other
    task runs between a cap's check and its count. A slot is released exactly once, by the
    block's exit, whatever ends it (normal end, an exception, cancellation).
    """

    def __init__(self, *, per_partner: int, per_process: int, per_subject: int | None = None) -> None:
        self.per_partner = per_partner
        self.per_process = per_process
        self.per_subject = per_partner if per_subject is None else per_subject
        self._open = 0
        self._by_partner: dict[str, int] = {}  # only partners with a stream open: bounded by it
        self._by_subject: dict[str, int] = {}  # the same for subjects

    @property
    def open(self) -> int:
        return self._open

    def open_for(self, partner_id: str) -> int:
        return self._by_partner.get(partner_id, 0)

    @contextlib.contextmanager
    def hold(self, partner_id: str, subject: str = "") -> Iterator[None]:
        """A slot of ``partner_id`` (acted for by ``subject``) until the block exits; 429
        (nothing taken) when a cap is reached."""
        self._take(partner_id, subject)
        try:
            yield
        finally:
            self._release(partner_id, subject)

    def _take(self, partner_id: str, subject: str) -> None:
        by_subject = self._by_subject.get(subject, 0)
        if subject and by_subject >= self.per_subject:
            raise TooManyRequests(
                f"this token already has {by_subject} event streams open on this server, across "
                f"the partners it acts for: the most BFF_MAX_STREAMS_PER_SUBJECT allows; close one "
                f"and retry",
                headers={"Retry-After": str(PARTNER_RETRY_AFTER_S)},
            )
        held = self._by_partner.get(partner_id, 0)
        if held >= self.per_partner:
            raise TooManyRequests(
                f"this partner already has {held} event streams open on this server, the most "
                f"BFF_MAX_STREAMS_PER_PARTNER allows; close one (a stream also ends with its "
                f"package's final status) and retry",
                headers={"Retry-After": str(PARTNER_RETRY_AFTER_S)},
            )
        if self._open >= self.per_process:
            raise TooManyRequests(
                f"this server holds {self._open} event streams, the most BFF_MAX_STREAMS_PER_PROCESS "
                f"allows; retry shortly",
                headers={"Retry-After": str(PROCESS_RETRY_AFTER_S)},
            )
        self._by_partner[partner_id] = held + 1
        if subject:
            self._by_subject[subject] = by_subject + 1
        self._open += 1

    def _release(self, partner_id: str, subject: str) -> None:
        self._open -= 1
        _count_down(self._by_partner, partner_id)
        if subject:
            _count_down(self._by_subject, subject)


def _count_down(counts: dict[str, int], owner: str) -> None:
    left = counts[owner] - 1
    if left:
        counts[owner] = left
    else:
        del counts[owner]


def stream_slots(settings: Settings) -> StreamSlots:
    """The caps of ``settings``, the process cap lowered to what the file-descriptor limit
    leaves for streams: past it ``accept`` would fail for every request, health checks too,
    where a cap refuses only new streams, with a clear 429."""
    per_process = settings.max_streams_per_process
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        reserved = settings.redis_max_connections + settings.upstream_max_connections + FD_HEADROOM
        allowed = max(1, soft - reserved)
        if allowed < per_process:
            logger.warning(
                "BFF_MAX_STREAMS_PER_PROCESS=%d does not fit the file-descriptor limit (%d, of which "
                "%d are kept for pools and other requests): at most %d event streams here; raise "
                "the limit (ulimit -n, the container's nofile) to allow more",
                per_process,
                soft,
                reserved,
                allowed,
            )
            per_process = allowed
    return StreamSlots(
        per_partner=settings.max_streams_per_partner,
        per_process=per_process,
        per_subject=settings.max_streams_per_subject,
    )
