# Pipeline Engine — the two commands of the quick start are `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-server
TEST_STAMP := $(VENV)/.installed-dev
UV := $(BIN)/uv
# make run API_PORT=8001 TEMPORAL_PORT=7234 UI_PORT=8234 DATA_DIR=.data-2 (beside another stack)
API_PORT ?= 8000
TEMPORAL_PORT ?= 7233
UI_PORT ?= 8233
DATA_DIR ?= .data
DOCS_PORT ?= 8001

.PHONY: install system-packages run test lint docs bench bench-latency bench-fairness bench-throughput clean vendor-console

## Everything a developer uses (the server extra and the test, lint and docs tools).
install: $(TEST_STAMP)

## uv installs the packages (in parallel, without compiling every module up front: about a
## third of pip's time here); the venv is made without pip and uv is put in it by the system's pip.
$(UV):
	test -x $(PY) || python3 -m venv --without-pip $(VENV)
	python3 -m pip --python $(PY) install -q 'uv>=0.5'

## What the main job runs, and nothing else: `make run` needs no test tool.
$(RUN_STAMP): pyproject.toml | $(UV)
	$(UV) pip install --python $(PY) -q -e '.[server]'
	touch $@

## The test, lint and docs tools on top.
$(TEST_STAMP): $(RUN_STAMP)
	$(UV) pip install --python $(PY) -q -e '.[server,dev]'
	touch $@

## Debian's chromium, chromium-driver and prometheus (promtool) for the tests: installed with
## apt-get when missing (as root), or one line naming what to install.
system-packages:
	@sh scripts/system_packages.sh

## The main job: the embedded stack (Temporal dev server + Web UI, worker, API) and the seed demo.
run: $(RUN_STAMP)
	$(BIN)/pipeline-engine dev --demo --api-port $(API_PORT) --temporal-port $(TEMPORAL_PORT) \
		--ui-port $(UI_PORT) --data-dir $(DATA_DIR)

## Every test (a real Temporal dev server and PostgreSQL are started/used by the suite).
test: system-packages install
	$(PY) -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(PY) scripts/generate_sync_client.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir .site

## The docs site (mkdocs, Material theme) over docs/, on http://127.0.0.1:$(DOCS_PORT).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

bench: install
	$(PY) -m bench.overhead

## Celery + Redis live in the latency benchmark's own venv, never in the project's dependencies.
CELERY_VENV := bench/.venv-celery
$(CELERY_VENV)/.installed:
	test -x $(CELERY_VENV)/bin/pip || python3 -m venv --clear $(CELERY_VENV)
	$(CELERY_VENV)/bin/python -m pip install -q 'celery[redis]>=5.4,<6'
	touch $@

## Per-step latency vs hand-written Temporal and Celery on Redis (127.0.0.1:6379), and the API's.
bench-latency: install $(CELERY_VENV)/.installed
	$(PY) -m bench.latency
	$(PY) -m bench.api_latency

bench-fairness: install
	$(PY) -m bench.fairness

## Many seed pipelines at once and wide groups: project vs hand-written Temporal vs Celery.
bench-throughput: install $(CELERY_VENV)/.installed
	$(PY) -m bench.throughput

## Re-vendor the console's and /docs' browser assets (npm, pinned versions; see the script).
vendor-console:
	python3 scripts/vendor_console_assets.py

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache .site site
