"""``python -m app api|worker|simulator|dev|token|listen``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# Event streams end at once on SIGTERM (app/kit/shutdown.py); this only bounds other requests
# still open then (a long CSV download), as the image's --timeout-graceful-shutdown does.
API_GRACE_S = 10


def _api(args: argparse.Namespace) -> None:
    import uvicorn
    from uvicorn.config import LOG_LEVELS

    from app.api.app import create_app
    from app.kit.settings import get_settings
    from app.observability.logs import configure_logging

    settings = get_settings()  # a bad BFF_ variable stops here with one line
    configure_logging(settings.log_format, LOG_LEVELS[args.log_level.lower()])
    app = create_app(settings)

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=None,  # ours, configured above
        access_log=False,  # the request-id middleware writes the access line
        proxy_headers=True,
        server_header=False,  # "server: uvicorn" helps no client and tells an attacker the stack
        timeout_graceful_shutdown=API_GRACE_S,
    )
    uvicorn.Server(config).run()


def _worker(args: argparse.Namespace) -> None:
    from app.kit.settings import get_settings
    from app.observability.logs import configure_logging
    from app.worker.run import serve

    configure_logging(get_settings().log_format)
    from app.worker.settings import WorkerSettings

    serve(WorkerSettings)


def _simulator(args: argparse.Namespace) -> None:
    from app.simulator.server import serve

    serve(host=args.host, port=args.port)


def _dev(args: argparse.Namespace) -> None:
    from app.dev.stack import run_dev_stack

    sys.exit(run_dev_stack(api_port=args.port, simulator_port=args.simulator_port, data_dir=args.data_dir))


def _token(args: argparse.Namespace) -> None:
    from app.auth.tokens import issue_token

    secret = _signing_secret(args.data_dir)
    print(issue_token(secret, sub=args.sub, partners=args.partner, ttl_s=args.ttl))


def _signing_secret(data_dir: Path) -> str:
    """BFF_JWT_SECRET, else the one the dev stack keeps in ``data_dir``."""
    from app.dev.identity import kept_jwt_secret
    from app.kit.settings import get_settings

    settings = get_settings()
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    kept = kept_jwt_secret(data_dir)
    if kept is None:
        sys.exit(
            f"BFF_JWT_SECRET is not set and no dev stack has kept one in {data_dir}/: "
            "start it (make run) first, or set BFF_JWT_SECRET to the API's secret"
        )
    return kept


def _listen(args: argparse.Namespace) -> None:
    from app.auth.tokens import issue_token
    from app.dev.listen import listen

    token = issue_token(_signing_secret(args.data_dir), sub="dev-listen", partners=[args.partner], ttl_s=3600)
    sys.exit(listen(api=args.api.rstrip("/"), partner=args.partner, token=token, event_types=args.events))


def _add_dev_commands(commands: Any) -> None:
    """``dev`` and the tools that work with the running dev stack (``token``, ``listen``)."""
    from app.dev.identity import DATA_DIR

    kept = "the dev stack's data directory, read when BFF_JWT_SECRET is not set"
    dev = commands.add_parser("dev", help="simulator + API + worker (+ Redis) together")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--simulator-port", type=int, default=8081)
    dev.add_argument(
        "--data-dir", type=Path, default=DATA_DIR, help="its Redis data, secrets, simulator state"
    )
    dev.set_defaults(run=_dev)
    token = commands.add_parser("token", help="print a signed dev token")
    token.add_argument("--sub", default="dev-user")
    token.add_argument(
        "--partner",
        action="append",
        required=True,
        help="partner id (repeatable); '*' alone is an internal service's every-partner token",
    )
    token.add_argument("--ttl", type=int, default=12 * 3600)
    token.add_argument("--data-dir", type=Path, default=DATA_DIR, help=kept)
    token.set_defaults(run=_token)
    listen = commands.add_parser("listen", help="receive, verify and print a partner's webhooks")
    listen.add_argument("--partner", default="demo-partner")
    listen.add_argument(
        "--events", nargs="+", default=None, metavar="TYPE", help="event types (default: all)"
    )
    listen.add_argument("--api", default="http://127.0.0.1:8000", help="the running dev stack's API")
    listen.add_argument("--data-dir", type=Path, default=DATA_DIR, help=kept)
    listen.set_defaults(run=_listen)


def main(argv: list[str] | None = None) -> None:
    from app.kit.settings import SettingsError

    parser = argparse.ArgumentParser(prog="python -m app")
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="the HTTP API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug", "trace"]
    )
    api.set_defaults(run=_api)
    commands.add_parser("worker", help="the arq worker").set_defaults(run=_worker)
    sim = commands.add_parser("simulator", help="the stand-in Package Builder API")
    sim.add_argument("--host", default=None)
    sim.add_argument("--port", type=int, default=None)
    sim.set_defaults(run=_simulator)
    _add_dev_commands(commands)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
