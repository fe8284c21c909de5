"""Work to do the moment the server is told to stop, whatever started it.

uvicorn (its CLI ``uvicorn app.main:app``, ``uvicorn.Server.run``, so ``python -m app api``)
turns SIGTERM and SIGINT into a graceful shutdown: stop accepting, wait for the open responses
to finish, and only then run the lifespan's shutdown. An event stream never finishes by itself,
so it has to hear of the signal before that wait. ``on_termination`` puts a handler in front of
the server's own with the stdlib ``signal`` module: it schedules the callback on the event
loop, then calls the server's handler exactly as the signal would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], Any]


@contextlib.contextmanager
def on_termination(callback: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGTERM or SIGINT also runs ``callback`` on the running loop.

    Only a signal some code already handles in Python is chained: with the default action
    the process dies at once and there is nothing to drain; an ignored one stays ignored.
    Off the main thread no handler can be set (Python's rule), and nothing is done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    chained: dict[int, Handler] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        # A signal handler interrupts the loop between two bytecodes: the callback runs on
        # the loop's next turn instead, which call_soon_threadsafe is safe to ask for here.
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to end
            loop.call_soon_threadsafe(callback)
        chained[signum](signum, frame)

    for sig in SIGNALS:
        current = signal.getsignal(sig)
        if callable(current):
            chained[sig] = current
            signal.signal(sig, handler)
    try:
        yield
    finally:
        for signum, before in chained.items():
            if signal.getsignal(signum) is handler:  # else someone chained after us: leave theirs
                signal.signal(signum, before)
