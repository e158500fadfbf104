# proactive-ml — `make help` lists the targets. Every target creates the environment when it is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY_SYS ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
STAMP := $(VENV)/.synced
export PYTHONUNBUFFERED := 1
# Cache compiled bytecode: every test process imports MLflow, Prefect and GX (seconds each without .pyc files).
unexport PYTHONDONTWRITEBYTECODE
# Prefect: the first flow run starts a local ephemeral server; give it time on a busy 2-core machine, no telemetry.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1
# Coverage floor of `make test` (percent of lines and branches of src/proactive_ml; subprocesses are not measured,
# see [tool.coverage.run] in pyproject.toml).
COV_FLOOR ?= 85
# Test processes of `make test` (pytest-xdist; every flow test runs on one of them, which alone starts the Prefect
# test server). 0 runs the suite in this process, one test after another.
TEST_WORKERS ?= 2

.PHONY: help env demo test check lint typecheck imports test-slow bench mlflow-ui serve clean
.PHONY: prefect-server prefect-deploy prefect-worker prefect-run prefect-stop

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PY_SYS) -m venv .tools
	.tools/bin/pip install --quiet uv

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PY_SYS)
	@touch $(STAMP)

env: $(STAMP) ## create/update the virtual environment from uv.lock (reproducible)

demo: $(STAMP) ## run the main job on embedded defaults (no servers, no keys, no network)
	PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=WARNING $(BIN)/python -m flows.closed_loop --demo

lint: $(STAMP) ## ruff (lint rules and the format check)
	$(BIN)/ruff check src flows tests bench
	$(BIN)/ruff format --check src flows tests bench

typecheck: $(STAMP) ## mypy on src/ and flows/
	$(BIN)/mypy

imports: $(STAMP) ## import contracts between packages (import-linter; layers in docs/architecture.md)
	$(BIN)/lint-imports --no-logo

check: lint typecheck imports ## ruff check, ruff format --check, mypy and lint-imports

test: check ## check, then the test suite with the coverage floor (what CI runs)
	$(BIN)/pytest -m "not slow" -q -n $(TEST_WORKERS) --dist loadgroup --cov --cov-fail-under=$(COV_FLOOR)

test-slow: $(STAMP) ## the slow checks (100x crash test, long soaks)
	$(BIN)/pytest -m slow -q

bench: $(STAMP) ## run every benchmark in bench/ (minutes; prints JSON per script)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f | tail -n 1; done

mlflow-ui: $(STAMP) ## open the MLflow UI on the local store (the demo's after `make demo`) at http://127.0.0.1:5000
	@db=data/demo/mlflow.db; [ -f $$db ] || db=data/mlflow.db; \
	echo "MLflow UI on $$db"; \
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$$db --default-artifact-root $$(dirname $$db)/mlartifacts --port 5000

serve: $(STAMP) ## run the webhook/unsubscribe receiver
	$(BIN)/proactive-ml serve

# Prefect: a local server, the process work pool, every deployment of prefect.yaml, workers (README: Orchestration).
PREFECT_PORT ?= 4200
PREFECT_URL := http://127.0.0.1:$(PREFECT_PORT)/api
PREFECT_DATA ?= $(CURDIR)/data/demo
POOL := proactive-process
DEPLOYMENT ?= ingest-and-validate/ingest-hourly
PF := PREFECT_API_URL=$(PREFECT_URL) $(BIN)/prefect

prefect-server: $(STAMP) ## start a local Prefect server in the background (UI: http://127.0.0.1:4200)
	@mkdir -p data
	@up() { $(BIN)/python -c "import urllib.request as u; u.urlopen('$(PREFECT_URL)/health', timeout=2)" 2>/dev/null; }; \
	if up; then echo "Prefect server already up: $(PREFECT_URL)"; exit 0; fi; \
	nohup $(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT) >data/prefect-server.log 2>&1 & \
	echo $$! >data/prefect-server.pid; \
	for i in $$(seq 180); do up && break; sleep 1; done; \
	up || { echo "Prefect server did not start: see data/prefect-server.log"; exit 1; }; \
	echo "Prefect server up: UI http://127.0.0.1:$(PREFECT_PORT), API $(PREFECT_URL) (log data/prefect-server.log; make prefect-stop)"

prefect-deploy: prefect-server ## create the process work pool and deploy every flow on PREFECT_DATA (default data/demo)
	@[ -d "$(PREFECT_DATA)" ] || { echo "no data folder $(PREFECT_DATA): run make demo first, or make prefect-deploy PREFECT_DATA=/your/data"; exit 2; }
	@$(PF) work-pool inspect $(POOL) >/dev/null 2>&1 || $(PF) work-pool create $(POOL) --type process
	PROACTIVE_PROJECT_DIR=$(CURDIR) PROACTIVE_DATA_DIR=$(PREFECT_DATA) $(PF) --no-prompt deploy --all

prefect-worker: prefect-server ## start a process worker on the pool (foreground; Ctrl-C stops it)
	$(PF) worker start --pool $(POOL)

prefect-run: prefect-server ## run one deployment now through a worker and wait (DEPLOYMENT=flow/deployment)
	$(PF) deployment run $(DEPLOYMENT)
	$(PF) worker start --pool $(POOL) --run-once
	@$(PF) flow-run ls --limit 1

prefect-stop: ## stop the background Prefect server started by make prefect-server
	@if [ -f data/prefect-server.pid ]; then kill $$(cat data/prefect-server.pid) && rm data/prefect-server.pid && echo stopped; \
	else echo "no server started by make prefect-server"; fi

clean: ## remove local state (data/) — keeps the environment
	rm -rf data
