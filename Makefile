# PyROS: `make run` (the main job on embedded defaults) and `make test` (the fast tier).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: help venv run test test-integration test-browser test-all bench lint typecheck format clean down

help:
	@echo "make run                - set up and run the main job on embedded defaults"
	@echo "make test               - set up and run the fast tier (SQLite; PostgreSQL when PYROS_TEST_POSTGRES_URL is set)"
	@echo "make test-integration   - the integration tier (short simulated nights, real Prefect server)"
	@echo "make test-browser       - the control room in headless Chromium after a short simulated night"
	@echo "make bench [B=name]     - run the benchmarks in tests/benchmarks (JSON lines)"
	@echo "make lint               - ruff and the import contracts (lint-imports)"
	@echo "make typecheck          - mypy, strict (pyproject.toml [tool.mypy])"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# A whole simulated night (about 15 minutes at the default speed); e.g. RUN_ARGS="--hours 2".
RUN_ARGS ?=
run: $(STAMP)
	$(BIN)/pyros db init
	$(BIN)/pyros night --simulate $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not browser" -n 2 --dist loadgroup $(PYTEST_ARGS)

# First the tests that mostly wait, on two workers; then the tests with a stack of their own, one
# after the other and alone on the machine (tests/integration/conftest.py says why).
test-integration: $(STAMP)
	$(BIN)/python -m pytest -m "integration and not browser and not stack" -n 2 --dist loadgroup --durations=10 $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m "integration and not browser and stack" --durations=25 $(PYTEST_ARGS)

# Needs Debian's chromium and chromium-driver (.ci/run installs them when missing).
test-browser: $(STAMP)
	$(BIN)/python -m pytest -m browser tests/browser $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks $(B)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .

down: $(STAMP)
	-$(BIN)/pyros down

clean:
	rm -rf $(VENV) .pytest_cache
