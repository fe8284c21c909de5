"""arq functions of CRM exports (registered by app/worker.py)."""

from __future__ import annotations

from typing import Any

EXPORT_FUNCTIONS: list[Any] = []
