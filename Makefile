# Two commands do everything on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SRC := api emulators activities workflows models canonical platforms transform reconcile store devstack cli scheduling propagation events worker.py settings.py

.PHONY: run test lint install install-dev bench bench-transform bench-connect bench-propagate bench-live-connect bench-sync bench-events clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	@# The browser tests drive Debian's chromium (no browser download); installed when missing and
	@# the machine lets us (root with apt), otherwise those tests say how to get it and are skipped.
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
		  { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } || \
		echo "chromium not installed: apt-get install chromium to run the browser tests"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Start the whole stack in the foreground (Ctrl-C stops it; data stays in .data/).
run: install
	$(BIN)/structural run

## Lint, type-check and run the whole test suite against real PostgreSQL and Temporal.
test: install-dev lint
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy $(SRC) tests bench

## Benchmarks (each prints its ratios against a baseline measured in the same run).
bench: bench-transform bench-connect bench-propagate bench-live-connect bench-sync bench-events

bench-transform: install-dev
	$(BIN)/python -m bench.transform

bench-connect: install-dev
	$(BIN)/python -m bench.connect

bench-propagate: install-dev
	$(BIN)/python -m bench.propagate

bench-live-connect: install-dev
	$(BIN)/python -m bench.live_connect

bench-sync: install-dev
	$(BIN)/python -m bench.sync

bench-events: install-dev
	$(BIN)/python -m bench.events

## Delete local data (embedded PostgreSQL and Temporal dev server state).
clean-data:
	rm -rf .data
