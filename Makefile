# Two entry points for a fresh machine (see README):
#   make demo  - creates .venv, installs the library, runs the main job on the bundled data
#   make test  - creates .venv, installs the library with every extra, runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PRESET ?= quick

.PHONY: demo test bench clean

demo: $(VENV)/.core
	$(BIN)/asl-recog run --preset $(PRESET)

test: $(VENV)/.all
	$(BIN)/python -m pytest -q --durations=15

bench: $(VENV)/.all
	bash bench/run_all.sh

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# All extras in ONE pip call: installing the Azure SDK v1 and v2 extras in two
# steps breaks on cloudpickle's version pins.
$(VENV)/.all: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e ".[dev,azure,azureml]"
	touch $@ $(VENV)/.core

clean:
	rm -rf $(VENV) runs .pytest_cache
