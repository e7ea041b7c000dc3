# Two commands: `make run` and `make test`. Both build .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPS ?= 20
WORKERS ?= 2

.PHONY: run test test-fast lint bench compiled clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sufficiency run scenarios/kent_2024.toml --reps $(REPS) --workers $(WORKERS) --out results/kent_2024

# Debian's chromium for the browser tests, installed when missing and apt-get is usable as root.
# If it cannot be installed, the browser tests are skipped and say why.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "chromium is missing and cannot be installed here (needs root and apt-get): the browser tests will be skipped"; fi; \
	fi

test: $(STAMP) browser
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/mypy sim
	$(BIN)/python -m pytest -n 2 -q --durations=25

# Everything except the tests marked slow (statistical, notebook, external-tool, end-to-end).
# Each test file runs on one worker, so a file's shared (module) fixtures are computed once.
test-fast: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/mypy sim

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

# A wheel whose model modules are compiled with mypyc (sim/compiled.py; needs a C compiler), in
# dist/: `pip install dist/*.whl` installs it. The default install stays pure Python.
compiled: $(STAMP)
	SUFFICIENCY_COMPILE=1 $(BIN)/python -m pip wheel --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis build dist
