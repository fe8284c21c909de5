# syntax=docker/dockerfile:1
# One image for the three Python processes of the BFF (docs/architecture.md):
#   API (default):  the CMD below; docker-compose.yml and deploy/ (Kubernetes) run it unchanged
#   worker:         python -m app worker                 (health: arq --check app.worker.WorkerSettings)
#   simulator:      python -m app simulator --host 0.0.0.0 --port 8081   (or SIM_HOST / SIM_PORT)
# Configuration is environment only: BFF_* for the API and the worker, SIM_* for the simulator.
# `make image-check` (CI) runs the build stage's steps and these three commands without Docker.

# The base image, pinned by digest (the multi-arch index of python:3.11-slim): a rebuild gets the same
# bytes. To move it: `docker buildx imagetools inspect python:3.11-slim` and paste the new digest here
# (or pass --build-arg PYTHON_IMAGE=... for a one-off build).
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# --- build: the locked runtime dependencies and the project into a venv -------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Runtime lock only (no test or dev extras), every file checked against its sha256, wheels only
# (no compiler in a slim image). The build lock brings the pinned setuptools that builds the project.
COPY requirements.lock requirements-build.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements.lock -r requirements-build.lock

COPY pyproject.toml ./
COPY app ./app
# Not editable, so /src is not needed later; no deps: they all came from the lock above. Then the
# installers leave the venv (python -m pip can uninstall itself) and the code is byte-compiled once.
RUN pip install --no-deps --no-build-isolation . \
 && pip check \
 && python -m pip uninstall -y setuptools wheel pip \
 && python -m compileall -q /opt/venv

# --- runtime: the venv on the same slim base, no installers, an unprivileged user -------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Nothing installs packages at run time: drop the base image's own pip/setuptools/wheel too (fewer
# files for scanners to flag, nothing to `pip install` with inside a running container).
RUN PIP_ROOT_USER_ACTION=ignore python -m pip uninstall -y pip setuptools wheel \
 && groupadd --system --gid 10001 bff \
 && useradd --system --uid 10001 --gid bff --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin bff

COPY --from=build /opt/venv /opt/venv

WORKDIR /srv
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# Liveness of the API (no curl in slim images, so Python's urllib). The worker serves no /healthz
# (arq --check is its health) and the simulator listens on 8081: docker-compose.yml overrides
# this check for both.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"]

# Behind a reverse proxy, set FORWARDED_ALLOW_IPS (read by uvicorn) to the proxy's address so
# that --proxy-headers trusts its X-Forwarded-* headers; by default only 127.0.0.1 is trusted.
# SIGTERM ends every open event stream at once, with no flag needed (app/kit/shutdown.py);
# --timeout-graceful-shutdown is a backstop for other requests still open then (a slow client's
# CSV download), cut after 10 s. --no-server-header: as `python -m app api`, no "server: uvicorn".
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", \
     "--no-server-header", "--timeout-graceful-shutdown", "10"]
