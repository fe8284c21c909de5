"""The dev stack's secrets, made once and kept beside its Redis data (git-ignored), so a
token minted yesterday, or by ``python -m app token`` in another shell, still works after a
restart. A variable set in the environment wins over the kept value and is not written."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

DATA_DIR = Path(".dev-redis")
SECRETS_FILE = "dev-secrets.json"

_MAKERS: dict[str, Callable[[], str]] = {
    "BFF_JWT_SECRET": lambda: secrets.token_urlsafe(32),
    "BFF_LINK_SIGNING_KEY": lambda: secrets.token_urlsafe(32),
    # The worker polls with its own token; the simulator accepts any bearer token.
    "BFF_UPSTREAM_SERVICE_TOKEN": lambda: "dev-service-" + secrets.token_urlsafe(16),
}


def kept_secrets(data_dir: Path) -> dict[str, str]:
    """The secrets kept in ``data_dir``, or an empty dict when there are none (or unreadable)."""
    try:
        kept = json.loads((data_dir / SECRETS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(kept, dict):
        return {}
    return {name: value for name, value in kept.items() if name in _MAKERS and isinstance(value, str)}


def dev_secrets(data_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Each secret the environment does not set: the kept one, else a new one, kept (mode 0600)."""
    kept = kept_secrets(data_dir)
    wanted = {name: kept.get(name) or make() for name, make in _MAKERS.items() if name not in environ}
    if any(kept.get(name) != value for name, value in wanted.items()):
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / SECRETS_FILE
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({**kept, **wanted}, file, indent=2)
    return wanted


def kept_jwt_secret(data_dir: Path = DATA_DIR) -> str | None:
    """The JWT secret of the dev stack that keeps its data in ``data_dir``, if one ever ran."""
    return kept_secrets(data_dir).get("BFF_JWT_SECRET")
