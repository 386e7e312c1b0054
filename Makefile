# Two entry points for a fresh machine (see README):
#   make demo  - creates .venv, installs the library, runs the main job on the bundled data
#   make test  - creates .venv, installs the library with every extra, runs every check CI runs:
#                lint (ruff check, ruff format --check, mypy, lint-imports), the documentation build
#                (docs: mkdocs build --strict), then the test suite with the docstring examples (doctest)
# Both install the tested versions in constraints.txt (see its header to regenerate it;
# `make test CONSTRAINTS=/dev/null` installs the newest versions pyproject.toml allows).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PRESET ?= quick
CONSTRAINTS ?= constraints.txt
PIP_INSTALL := $(BIN)/python -m pip install -q -c $(CONSTRAINTS)
# The suite on every core (pytest-xdist): run on one process it kept one of two cores busy (CI's
# `time -v`: 101 % CPU). Whole test files go to one worker each (loadfile), so a file's module-scoped
# fixtures (a trained model, a server, a browser) are made once; `make test TEST_WORKERS=0` runs it
# in this process, as plain `pytest` does.
TEST_WORKERS ?= auto
PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile)

.PHONY: demo test test-fast lint doctest docs bench constraints clean chromium example-report

demo: $(VENV)/.core
	$(BIN)/asl-recog run --preset $(PRESET)

# The suite runs with a throwaway PostgreSQL (tools/test_postgres.sh; installed with apt-get if
# missing) for the distributed-search test; if it cannot start, make test fails.
# The docstring examples run in the same session as the tests (one set of workers, which the short
# examples keep busy while the last long tests finish); `make doctest` runs them alone.
test: $(VENV)/.all chromium lint docs
	url=$$(bash tools/test_postgres.sh start) && \
		ASL_RECOG_TEST_POSTGRES="$$url" ASL_RECOG_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q $(PARALLEL) \
		--doctest-modules asl_recog tests --durations=30; \
		status=$$?; bash tools/test_postgres.sh stop; exit $$status

# Everyday work: the suite without the slow tests, the browser and PostgreSQL (their tests skip and say
# so). make test and .ci/run still run everything.
test-fast: $(VENV)/.all
	ASL_RECOG_TEST_POSTGRES= $(BIN)/python -m pytest -q $(PARALLEL) -m "not slow" --ignore=tests/test_page_browser.py --durations=10

lint: $(VENV)/.all
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/lint-imports --no-logo --no-cache

# The docstring examples, on tiny data (conftest.py at the root sets them up, and leaves out the
# Azure scoring script template, which runs only inside Azure's container).
doctest: $(VENV)/.all
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PARALLEL) --doctest-modules asl_recog --durations=5

# The web page's browser tests (tests/test_page_browser.py) drive the distribution's Chromium; it is
# installed with apt-get when missing. Where that cannot work (no apt-get, no root or sudo) those tests
# skip and say why; .ci/run installs it itself and makes them required.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ echo "installing chromium with apt-get (for tests/test_page_browser.py)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends chromium >/dev/null; } || \
	echo "warning: chromium could not be installed; the browser tests will be skipped"

# Strict: a broken link, anchor or docstring reference fails the build. The site goes to site/.
# Not --quiet: it drops the warnings before --strict counts them, and a broken link then passed.
docs: $(VENV)/.all
	$(BIN)/mkdocs build --strict

# Regenerate docs/example-report/ with the current code (about 10 minutes on 2 cores); the example-report
# test fails when the report's recorded version or preset hash no longer match the code.
example-report: $(VENV)/.core
	BIN=$(BIN) bash tools/example_report.sh

bench: $(VENV)/.all
	bash bench/run_all.sh

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

$(VENV)/.core: pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	$(PIP_INSTALL) -e .
	touch $@

# All extras in ONE pip call (postgres: the PostgreSQL driver of the distributed-search test): installing the Azure SDK v1 and v2 extras in two
# steps breaks on cloudpickle's version pins.
$(VENV)/.all: pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	$(PIP_INSTALL) -e ".[dev,azure,azureml,postgres,mlflow]"
	touch $@ $(VENV)/.core

# Re-pin constraints.txt to what .venv holds; run it only after `make test` passed there.
constraints: $(VENV)/.all
	$(BIN)/python tools/gen_constraints.py > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt

clean:
	rm -rf $(VENV) runs .pytest_cache site
