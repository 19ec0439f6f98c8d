# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench lint clean

$(STAMP): pyproject.toml setup.py src/wattguard/protocol/_accel.c src/wattguard/protocol/_accel_open.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wattguard needs Python 3.11 or newer; this is " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): on Debian/Ubuntu run 'apt-get install python3-venv'"; exit 1; }
	@echo "installing wattguard into $(VENV) (first run only) ..."
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e '.[postgres,nats,interop,bench,parquet]' --group dev
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/wattguard demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

bench: $(STAMP)
	$(BIN)/python bench/crypto.py
	$(BIN)/python bench/protocol.py
	$(BIN)/python bench/metering.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/wan.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/protection.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/meter_pages.py
	$(BIN)/python bench/bus.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
