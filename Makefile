# Escalade: `make demo` to see it run, `make test` to check everything.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint fmt clean bench docs peers chromium screenshots

# Real peers the integration tests start: Alertmanager from Debian's package.
ALERTMANAGER := /usr/bin/prometheus-alertmanager

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m escalade.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# The suite runs against SQLite and PostgreSQL; tests marked `postgres` skip when
# PostgreSQL is unreachable unless ESCALADE_REQUIRE_POSTGRES=1 (set by .ci/run).
test: lint peers chromium
	$(BIN)/pytest -q

peers: $(ALERTMANAGER)

$(ALERTMANAGER):
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus-alertmanager

# The dashboard's browser tests drive Debian's Chromium through Playwright (which
# never downloads a browser of its own).
chromium:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)

# Pictures of the main dashboard pages, from a real server with a scripted incident.
screenshots: $(STAMP) chromium
	PYTHONPATH=tests $(BIN)/python -m support.screenshots docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info src/*.egg-info

BENCH_PG ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

# Benchmarks need wrk and Alertmanager (Debian packages) and a quiet machine.
bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y wrk
	command -v prometheus-alertmanager >/dev/null || apt-get install -y prometheus-alertmanager
	$(BIN)/python bench/ingest.py --postgres $(BENCH_PG)
	$(BIN)/python bench/route.py --postgres $(BENCH_PG)
	$(BIN)/python bench/lane.py
	$(BIN)/python bench/serve.py --postgres $(BENCH_PG)
	$(BIN)/python bench/processes.py --postgres $(BENCH_PG) --shape api
	$(BIN)/python bench/timers.py --postgres $(BENCH_PG)
	$(BIN)/python bench/listing.py --postgres $(BENCH_PG)
	$(BIN)/python bench/dashboard.py

docs: $(STAMP)
	PYTHONPATH=tests $(BIN)/python -m support.clidoc > docs/cli.md
