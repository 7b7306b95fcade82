# vodlake: the two commands are `make demo` and `make test`; each sets up what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test unit lint services-up services-down bench clean

$(BIN)/vodlake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# Python environment, ffmpeg, Kafka and Elasticsearch from Maven Central, Spark connector jars.
setup: $(BIN)/vodlake
	$(BIN)/vodlake setup

# The main job on embedded defaults: starts the services, runs every stage, stops them.
demo: setup
	$(BIN)/vodlake demo

# The whole suite against the real services (started and stopped by the tests), in two
# workers that share them (see tests/conftest.py): most of the suite waits on I/O and clocks.
test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

unit: $(BIN)/vodlake
	$(BIN)/python -m pytest tests/unit

lint: $(BIN)/vodlake
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

services-up: setup
	$(BIN)/vodlake services up

services-down:
	$(BIN)/vodlake services down

bench: setup
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
