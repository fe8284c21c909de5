"""Generate the Python client from openapi/bff.json with openapi-python-client, failing on
any warning: the generator drops what it cannot type (a schema, then every schema and
operation answer that refers to it) and only warns, so a warning is a broken client.

Run by ``make client-check`` with this directory's own venv; writes ``generated/`` (git-ignored).
``generate.py other.json`` checks another document.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCUMENT = HERE.parent.parent / "openapi" / "bff.json"
OUTPUT = HERE / "generated" / "bff_client"  # --meta none: the package itself


def main(document: Path = DOCUMENT) -> int:
    shutil.rmtree(OUTPUT, ignore_errors=True)
    # The generator formats its output with ruff, found on PATH: this venv's own.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [
        str(Path(sys.executable).parent / "openapi-python-client"),
        "generate",
        "--path", str(document),
        "--config", str(HERE / "config.yaml"),
        "--output-path", str(OUTPUT),
        "--meta", "none",
        "--fail-on-warning",
    ]  # fmt: skip
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    output = run.stdout + run.stderr
    if run.returncode != 0 or "warning" in output.lower() or "error" in output.lower():
        print(output, file=sys.stderr)
        print(
            f"client-check: openapi-python-client failed on {document.name} (exit {run.returncode})",
            file=sys.stderr,
        )
        return 1
    models = [p for p in (OUTPUT / "models").glob("*.py") if p.stem != "__init__"]
    print(f"client-check: openapi-python-client made {len(models)} models of {document.name}, no warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCUMENT))
