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
# Coverage floor of `make test` (percent of lines and branches of src/proactive_ml, subprocesses included).
COV_FLOOR ?= 85

.PHONY: help env demo test check lint typecheck imports test-slow bench mlflow-ui serve clean

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
	PREFECT_LOGGING_LEVEL=WARNING $(BIN)/python -m flows.closed_loop --demo

lint: $(STAMP) ## ruff (lint rules and the format check)
	$(BIN)/ruff check src flows tests bench
	$(BIN)/ruff format --check src flows tests bench

typecheck: $(STAMP) ## mypy on src/ and flows/
	$(BIN)/mypy

imports: $(STAMP) ## import contracts between packages (import-linter; layers in docs/architecture.md)
	$(BIN)/lint-imports --no-logo

check: lint typecheck imports ## ruff check, ruff format --check, mypy and lint-imports

test: check ## check, then the test suite with the coverage floor (what CI runs)
	$(BIN)/pytest -m "not slow" -q --cov --cov-fail-under=$(COV_FLOOR)

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

clean: ## remove local state (data/) — keeps the environment
	rm -rf data
