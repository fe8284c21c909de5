"""`serve()`: run the simulator under uvicorn (what `python -m app simulator` calls)."""

import uvicorn

from app.simulator.app import create_app
from app.simulator.settings import SimulatorSettings


def serve(host: str | None = None, port: int | None = None) -> None:
    """Blocks until interrupted; host/port default to SIM_HOST / SIM_PORT."""
    settings = SimulatorSettings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_level="warning",
        timeout_graceful_shutdown=5,  # a client stalled mid-CSV must not block shutdown
    )
