# Two commands do all set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck check bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

## Start the server with embedded defaults (SQLite in ./var, built-in MQTT broker). DEMO=1 seeds a district.
run: $(STAMP)
	$(BIN)/pa-server run $(if $(DEMO),--demo,)

# Most of the suite waits on brokers, subprocesses and a browser rather than the CPU, so four
# workers on two cores finish in about two thirds of the time (tests use their own ports,
# databases and topic prefixes, so they run side by side). PYTEST_ARGS= runs it serially.
# The 25 slowest steps are listed at the end, so a CI log shows where the time goes.
PYTEST_ARGS ?= -n 4 --durations=25

## Run the whole test suite. Uses PostgreSQL/Mosquitto when PA_TEST_DATABASE_URL / PA_TEST_MQTT_URL
## are set (or reachable on their standard local ports), SQLite and the embedded broker always.
test: $(STAMP)
	@eval "$$($(BIN)/python .ci/services.py --detect)"; \
	  echo "PA_TEST_DATABASE_URL=$${PA_TEST_DATABASE_URL:-<none: SQLite only>}"; \
	  echo "PA_TEST_MQTT_URL=$${PA_TEST_MQTT_URL:-<none: embedded broker only>}"; \
	  rm -rf test-artifacts/screenshots; \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/render.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/planner.py
	$(BIN)/python bench/fanout.py --count 1000
	$(BIN)/python bench/storm.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/agent_memory.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
