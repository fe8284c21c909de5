"""``uvicorn app.main:app``: the ASGI application, built on first access (after settings load)."""

from __future__ import annotations

from fastapi import FastAPI

from app.api.app import create_app
from app.kit.settings import get_settings
from app.observability.logs import ensure_logging


def __getattr__(name: str) -> FastAPI:
    if name == "app":
        settings = get_settings()
        ensure_logging(settings.log_format)  # uvicorn's CLI configured its own: ours replaces it
        application = create_app(settings)
        globals()["app"] = application
        return application
    raise AttributeError(name)
