# Two commands on a fresh machine: `make run` (the whole stack) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed-stamp
CLIENT_VENV  := clients/python/.venv
CLIENT_PY    := $(CLIENT_VENV)/bin/python
CLIENT_STAMP := $(CLIENT_VENV)/.installed-stamp
DEPLOY_STAMP := $(VENV)/.deploy-installed-stamp

# Lock files, written by `make lock` from pyproject.toml (every pin with the sha256 of every file):
#   requirements.lock         runtime dependencies (the Docker image installs these)
#   requirements-dev.lock     runtime + the test and dev extras, same versions (`make install`)
#   requirements-build.lock   [build-system] requires, for building the project without isolation
#   deploy/requirements.lock  the validators of `make deploy-check`
#   clients/python/requirements.lock  openapi-python-client, in its own venv (`make client-check`)
LOCK        := requirements.lock
DEV_LOCK    := requirements-dev.lock
BUILD_LOCK  := requirements-build.lock
DEPLOY_LOCK := deploy/requirements.lock
CLIENT_LOCK := clients/python/requirements.lock
UV_VERSION  ?= 0.13.9
# `make lock` keeps the pins it can; `make lock LOCK_FLAGS=--upgrade` moves everything to the newest
# release, `LOCK_FLAGS='--upgrade-package fastapi'` just one.
LOCK_FLAGS  ?=
UV_COMPILE   = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
               --custom-compile-command 'make lock' $(LOCK_FLAGS)

.PHONY: install run test lint openapi client-check bench clean lock deploy-check image-check

# Everything from the dev lock, hash-checked; then the project itself, editable, without its deps
# (they are all in the lock: `pip check` fails when pyproject.toml needs something it lacks, so run
# `make lock` after editing the dependencies).
$(STAMP): pyproject.toml $(DEV_LOCK) $(BUILD_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r $(DEV_LOCK) -r $(BUILD_LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check || { echo 'the lock lacks a dependency of pyproject.toml: run make lock' >&2; exit 1; }
	touch $(STAMP)

install: $(STAMP)

## regenerate the lock files from pyproject.toml (and deploy/requirements.in) with uv; needs PyPI
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) pyproject.toml -o $(LOCK)
	$(UV_COMPILE) pyproject.toml --extra test --extra dev -c $(LOCK) -o $(DEV_LOCK)
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
	  | $(UV_COMPILE) - -o $(BUILD_LOCK)
	$(UV_COMPILE) deploy/requirements.in -c $(DEV_LOCK) -o $(DEPLOY_LOCK)
	$(UV_COMPILE) clients/python/requirements.in -o $(CLIENT_LOCK)

## simulator + API + worker (+ a private redis-server when none answers at BFF_REDIS_URL)
run: install
	$(PY) -m app dev

## the whole test suite against real Redis, a real uvicorn and the simulator
test: install
	$(PY) -m pytest

## formatting, lint rules and types (mypy --strict over app/; tests checked too): CI runs it first
lint: install
	$(VENV)/bin/ruff format --check app tests bench
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/mypy app tests

## regenerate openapi/bff.json from the app (a test fails when it is stale)
openapi: install
	$(PY) -m app.api.openapi_export openapi/bff.json

## the documents pass independent linters (clients/typescript/lint/redocly.yaml: Redocly's recommended
## rules over both documents; clients/typescript/lint/.spectral.yaml: Spectral's OpenAPI rules and the
## OWASP API Security ruleset; 0 errors, 0 warnings), and
## clients generated from openapi/bff.json work with no hand-written types:
## TypeScript (Node/npm: npm ci, openapi-typescript into the git-ignored generated/, tsc, coverage)
## and Python (openapi-python-client in its own venv, failing on any warning; mypy --strict over
## the scripts that use it; then the walkthrough's calls (docs/walkthrough.md) through the generated client
## against a stack the script starts)
client-check: install $(CLIENT_STAMP)
	cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error
	cd clients/typescript && npm run --silent lint
	cd clients/typescript && rm -rf generated && npm run --silent generate
	cd clients/typescript && npx --no-install tsc -p .
	cd clients/typescript && node check-coverage.mjs
	$(CLIENT_PY) clients/python/generate.py
	cd clients/python && MYPYPATH=generated .venv/bin/mypy --strict generate.py walkthrough.py type_errors.py
	$(CLIENT_PY) clients/python/walkthrough.py --app-python $(PY)

$(CLIENT_STAMP): $(CLIENT_LOCK)
	test -x $(CLIENT_PY) || $(PYTHON) -m venv $(CLIENT_VENV)
	$(CLIENT_PY) -m pip --disable-pip-version-check install --quiet --require-hashes -r $(CLIENT_LOCK)
	$(CLIENT_PY) -m pip --disable-pip-version-check check
	touch $(CLIENT_STAMP)

## benchmarks (bench/RESULTS.md); installs wrk and nginx for the baselines when missing and root
bench: install
	@command -v wrk >/dev/null && command -v nginx >/dev/null || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null; } || \
		echo "wrk/nginx not installed: a Python load generator and the aiohttp baseline are used"
	$(PY) bench/run_all.py

$(DEPLOY_STAMP): $(STAMP) $(DEPLOY_LOCK)
	$(PIP) install --quiet --require-hashes -r $(DEPLOY_LOCK)
	$(PIP) check
	touch $(DEPLOY_STAMP)

## render the kustomize base and overlays (deploy/render.py, and kubectl/kustomize when on PATH),
## validate every object against the Kubernetes JSON schemas and the service's rules, check
## docker-compose.yml and the Dockerfile; then prove the checker catches deliberate breakages.
## No cluster, registry or Docker needed.
deploy-check: $(DEPLOY_STAMP)
	$(PY) deploy/check.py
	$(PY) deploy/check.py --self-test

## every command the image runs, without Docker: the Dockerfile's build steps into a fresh venv
## (runtime lock only, wheels only, no pip left), every app module imported from it, then the
## compose services (private redis-server, simulator, the image's CMD, worker) on free ports,
## their health checks, arq --check and the Kubernetes probes, an event stream across SIGTERM,
## and SIGTERM for each within its stop_grace_period. Needs PyPI and redis-server.
image-check: install
	$(PY) deploy/check_image_commands.py

clean:
	rm -rf $(VENV) $(CLIENT_VENV) clients/python/generated .pytest_cache .mypy_cache .ruff_cache
