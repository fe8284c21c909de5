"""Following builds: the watch registry, the poll schedule and the poller the worker runs,
the status store with its change feed, and the ``package.*`` events a finished build raises.

Depends on ``upstream`` and hands events to ``webhooks``; ``packages`` and ``live`` depend
on it, never the other way round.
"""
