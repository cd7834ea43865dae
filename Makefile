# The two set-up commands: `make run` (the product) and `make test` (the whole suite).
# Each creates .venv from pyproject.toml on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint format bench bench-tracking bench-growth faults screenshots local.env

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# The development settings of this checkout (mes/local_env.py): DEBUG=1, a generated
# SECRET_KEY and this checkout's SQLite database. Written once (an older one gets the
# DATABASE_URL it implied). manage.py in another terminal reads it when nothing else is
# configured (no MES_ENV_FILE, SECRET_KEY or DATABASE_URL); a server never does.
local.env:
	$(PYTHON) -c 'import sys; sys.path.insert(0, "."); from mes.local_env import write_local_env; write_local_env()'

# Migrated SQLite database, demo data, server on 127.0.0.1:8000 (RUN_ADDRESS), all with
# local.env.
RUN_ADDRESS ?= 127.0.0.1:8000
run: venv local.env
	MES_ENV_FILE=$(CURDIR)/local.env $(BIN)/python manage.py migrate --noinput
	MES_ENV_FILE=$(CURDIR)/local.env $(BIN)/python manage.py seed_demo --base-url http://$(RUN_ADDRESS)
	MES_ENV_FILE=$(CURDIR)/local.env $(BIN)/python manage.py runserver $(RUN_ADDRESS)

# The whole suite: SQLite by default, PostgreSQL when DATABASE_URL points at one
# (tests/settings.py).
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	SECRET_KEY=lint-only DATABASE_URL=sqlite://:memory: $(BIN)/python manage.py makemigrations --check --dry-run

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Ingestion throughput against PostgreSQL's own limit, then track-in + track-out pairs
# against the same rows written by psycopg (bench/README.md). The tracking run goes ahead
# when a section of the first failed; the target fails if either did.
bench: venv
	$(BIN)/python bench/ingest.py $(BENCH_ARGS); ingest=$$?; \
	$(BIN)/python bench/tracking.py $(TRACKING_ARGS) && exit $$ingest

# The tracking figure alone (bench/tracking.py).
bench-tracking: venv
	$(BIN)/python bench/tracking.py $(TRACKING_ARGS)

# The back office, the read API and ingestion with a plant's worth of data (bench/growth.py).
bench-growth: venv
	$(BIN)/python bench/growth.py $(GROWTH_ARGS)

# Ingestion under the production configuration with real faults (bench/faults.py).
faults: venv
	$(BIN)/python bench/faults.py $(FAULTS_ARGS)

# The README's pictures of the back office, from the demo data (docs/screenshots.py; needs
# Debian's chromium: apt-get install chromium).
screenshots: venv
	$(BIN)/python docs/screenshots.py
