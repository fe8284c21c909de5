"""``python -m app api|worker|simulator|dev|token``."""

from __future__ import annotations

import argparse
import sys

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
    from app.devstack import run_dev_stack

    sys.exit(run_dev_stack(api_port=args.port, simulator_port=args.simulator_port))


def _token(args: argparse.Namespace) -> None:
    from app.auth.tokens import issue_token
    from app.kit.settings import get_settings

    settings = get_settings()
    if settings.jwt_secret is None:
        sys.exit("BFF_JWT_SECRET is not set; cannot sign a token")
    print(
        issue_token(
            settings.jwt_secret.get_secret_value(),
            sub=args.sub,
            partners=args.partner,
            ttl_s=args.ttl,
        )
    )


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
    dev = commands.add_parser("dev", help="simulator + API + worker (+ Redis) together")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--simulator-port", type=int, default=8081)
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
    token.set_defaults(run=_token)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
