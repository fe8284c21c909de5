"""`create_app()`: the simulator as one FastAPI app with its own state."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.simulator import routes_control, routes_misc, routes_packages
from app.simulator.deps import Simulator
from app.simulator.faults import FaultBook, FaultMiddleware, Stats, install_log_filter
from app.simulator.persist import KeepState, load
from app.simulator.seed import seed_partner
from app.simulator.settings import SimulatorSettings
from app.simulator.state import PackageNotFound, Store, WrongStatus


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"package {exc} not found"}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


def _operation_id(route: APIRoute) -> str:
    """OpenAPI operation ids are the operation names that faults and stats use."""
    return route.name


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    """A fresh simulator; each call has its own packages, faults and stats."""
    settings = settings or SimulatorSettings()
    store = Store(settings)
    store.on_new_partner = seed_partner
    simulator = Simulator(settings, store, FaultBook(settings.seed), Stats())
    app = FastAPI(
        title="Package Builder API simulator",
        description="Stand-in for the Package Builder API and the data-integrations layer.",
        redirect_slashes=False,
        generate_unique_id_function=_operation_id,
    )
    app.state.simulator = simulator
    app.include_router(routes_packages.router)
    app.include_router(routes_misc.router)
    app.include_router(routes_control.router)
    app.add_exception_handler(PackageNotFound, _not_found)
    app.add_exception_handler(WrongStatus, _conflict)
    upstream_routes = [*routes_packages.router.routes, *routes_misc.router.routes]
    app.add_middleware(
        FaultMiddleware, routes=upstream_routes, faults=simulator.faults, stats=simulator.stats
    )
    if settings.state_file is not None:
        load(store, settings.state_file)
        app.add_middleware(KeepState, store=store, path=settings.state_file)
    install_log_filter()
    return app
