"""Write the app's OpenAPI document: ``python -m app.api.openapi_export openapi/bff.json``.

The committed copy is the contract the SPA's client is generated from; a test
fails when it is stale (run ``make openapi`` after changing an endpoint).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from app.api.app import create_app
from app.kit.settings import Settings


def openapi_document() -> dict[str, Any]:
    """The schema of an app built with default settings (schema does not depend on them)."""
    return create_app(Settings(_env_file=None)).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    target = argv[1] if len(argv) > 1 else "openapi/bff.json"
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(render())
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv)
