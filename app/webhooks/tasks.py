"""arq functions of webhook delivery (registered by app/worker.py)."""

from __future__ import annotations

from typing import Any

WEBHOOK_FUNCTIONS: list[Any] = []
