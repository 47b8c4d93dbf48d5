# Enerlectra: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# What `make run` loads into an empty database: full (the demo co-ops and their history too), basic, none.
DEMO_DATA ?= full

# Exact versions with the hash of every file (any platform), made from pyproject.toml by `make lock`:
# the server's runtime, + the terminal phone (sim extra), + tests and tools (dev extra, which includes sim).
LOCK_SERVER := requirements/server.lock
LOCK_SIM    := requirements/sim.lock
LOCK_DEV    := requirements/dev.lock
UV_VERSION  := 0.13.9
# LOCK_FLAGS=--upgrade moves every pin to the newest allowed release (by default existing pins are kept).
UV_COMPILE   = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
               --custom-compile-command 'make lock' --quiet $(LOCK_FLAGS)

.PHONY: install install-dev install-sim lock run sim test test-fast lint typecheck check services bench bench-ledger openapi clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Each stamp: the locked dependencies (pip refuses any file whose hash is not in the lock), then the
# project itself without touching them. A changed lock or pyproject.toml reinstalls.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK_SERVER)
	$(BIN)/pip install -q --require-hashes -r $(LOCK_SERVER)
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

$(VENV)/.installed-sim: $(BIN)/python pyproject.toml $(LOCK_SIM)
	$(BIN)/pip install -q --require-hashes -r $(LOCK_SIM)
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml $(LOCK_DEV)
	$(BIN)/pip install -q --require-hashes -r $(LOCK_DEV)
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

install: $(VENV)/.installed

install-sim: $(VENV)/.installed-sim

install-dev: $(VENV)/.installed-dev

# Re-resolve the locks from pyproject.toml (with uv, installed into .venv here). sim and dev are
# constrained to the pins below them, so installing one lock after another never changes a version.
lock: $(BIN)/python
	$(BIN)/pip install -q 'uv==$(UV_VERSION)'
	@mkdir -p requirements
	$(UV_COMPILE) -o $(LOCK_SERVER)
	$(UV_COMPILE) --extra sim -c $(LOCK_SERVER) -o $(LOCK_SIM)
	$(UV_COMPILE) --extra dev -c $(LOCK_SIM) -o $(LOCK_DEV)

run: install
	$(BIN)/enerlectra db migrate
	DEMO_DATA=$(DEMO_DATA) PORT=$(PORT) $(BIN)/enerlectra serve

sim: install-sim
	$(BIN)/python -m simulator

services: install-dev
	$(BIN)/python scripts/ensure_services.py

test: install-dev services
	$(BIN)/pytest

# Unit tests and the integration tests on SQLite: no PostgreSQL, no Redis, no server processes (tests
# that need them carry the postgres/redis markers; e2e and drills are left out by path). Under a minute.
test-fast: install-dev
	$(BIN)/pytest tests/unit tests/integration -m "not postgres and not redis"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the layer contracts in pyproject.toml

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck test

# Regenerate the committed OpenAPI document from the code (a test fails while it is stale).
openapi: install-dev
	$(BIN)/python -m ussd_server.api.openapi docs/openapi.json

bench: install-dev services
	$(BIN)/python -m bench.hops
	$(BIN)/python -m bench.payments
	$(BIN)/python -m bench.coops
	$(BIN)/python -m bench.markets_engine --output
	$(BIN)/python -m bench.markets

bench-ledger: install-dev services
	$(BIN)/python -m bench.ledger

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
