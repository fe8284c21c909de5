"""``/metrics`` on a port of its own, apart from the public API: the process's memory, file
handles, traffic and error rates are for the scraper, not for anyone who can reach the API.

A port already in use is logged and skipped: a process that cannot be scraped still serves.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import start_http_server

logger = logging.getLogger("app.metrics")


class MetricsServer:
    """Prometheus' own exposition server on ``host:port`` (port 0: off), in a thread."""

    def __init__(self, *, host: str, port: int, name: str) -> None:
        self._host = host
        self._port = port
        self._name = name
        self._server: Any = None

    def start(self) -> bool:
        """Serve; False when off or the port is taken."""
        if not self._port:
            return False
        try:
            self._server, _ = start_http_server(self._port, addr=self._host)
        except OSError as exc:
            logger.warning("%s metrics not served on %s:%d: %s", self._name, self._host, self._port, exc)
            return False
        logger.info("%s metrics on http://%s:%d/metrics", self._name, self._host, self._port)
        return True

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
            self._server = None
