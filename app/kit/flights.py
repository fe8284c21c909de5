"""Single flight: concurrent callers that want the same thing share one running task.

A caller that goes away (a cancelled request) never cancels the task the others wait for,
and the task's error is every waiter's. A task nobody awaits any more logs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    """The tasks in flight, by key."""

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Future[T]] = {}

    def start(self, key: K, work: Awaitable[T]) -> asyncio.Future[T]:
        """Run ``work`` as the key's flight (a later caller joins it); it lands by itself."""
        flight: asyncio.Future[T] = asyncio.ensure_future(work)
        self._flights[key] = flight
        flight.add_done_callback(lambda done: self._land(key, done))
        return flight

    def running(self, key: K) -> asyncio.Future[T] | None:
        return self._flights.get(key)

    async def join(self, key: K, start: Callable[[], Awaitable[T]]) -> T:
        """The key's flight's result, starting it with ``start()`` when none is in flight."""
        flight = self._flights.get(key)
        if flight is None:
            flight = self.start(key, start())
        return await wait(flight)

    def _land(self, key: K, done: asyncio.Future[T]) -> None:
        if self._flights.get(key) is done:
            del self._flights[key]
        if not done.cancelled():
            done.exception()  # retrieved here, so a flight nobody awaits any more logs nothing


async def wait(flight: asyncio.Future[T]) -> T:
    """A flight's result; cancelling the waiter leaves the flight running."""
    return await asyncio.shield(flight)
