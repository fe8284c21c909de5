# Two commands on a fresh machine: `make run` (the whole stack) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint openapi bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

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
	$(PY) -m app.openapi_export openapi/bff.json

## benchmarks (bench/RESULTS.md); installs wrk and nginx for the baselines when missing and root
bench: install
	@command -v wrk >/dev/null && command -v nginx >/dev/null || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null; } || \
		echo "wrk/nginx not installed: a Python load generator and the aiohttp baseline are used"
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
