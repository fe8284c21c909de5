# syntax=docker/dockerfile:1
# One image for the three Python processes of the BFF (see DESIGN.md):
#   API (default):  uvicorn app.main:app --host 0.0.0.0 --port 8000 --proxy-headers
#   worker:         arq app.worker.WorkerSettings
#   simulator:      python -m app simulator --host 0.0.0.0 --port 8081   (or SIM_HOST / SIM_PORT)
# Configuration is environment only: BFF_* for the API and the worker, SIM_* for the simulator.

# --- build: install the project and its runtime dependencies into a venv ------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml ./
COPY app ./app
# The runtime dependencies only: no test or dev extras. Not editable, so /src is not needed later.
RUN pip install . && python -m compileall -q /opt/venv

# --- runtime: the venv on a clean slim base, run as an unprivileged user -----------------------
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 bff \
 && useradd --system --uid 10001 --gid bff --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin bff

COPY --from=build /opt/venv /opt/venv

WORKDIR /srv
USER bff:bff

EXPOSE 8000

# Liveness of the API (no curl in slim images, so Python's urllib). The worker has no HTTP port
# and the simulator listens on 8081: docker-compose.yml overrides this check for both.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"]

# Behind a reverse proxy, set FORWARDED_ALLOW_IPS (read by uvicorn) to the proxy's address so
# that --proxy-headers trusts its X-Forwarded-* headers; by default only 127.0.0.1 is trusted.
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
