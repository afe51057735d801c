# One command to start the node, one to run the tests; both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export ETH_HASH_BACKEND ?= pysha3

.PHONY: devnet test unit e2e bench bench-execute demo compose-test lint install npm clean

# The node needs the runtime only; the tests, lint and plots add the dev extras.
devnet: $(VENV)/.runtime
	$(BIN)/native-devnet $(ARGS)

test: $(VENV)/.installed node_modules/.installed
	$(BIN)/pytest -q tests

unit: $(VENV)/.installed
	$(BIN)/pytest -q tests/unit

e2e: $(VENV)/.installed node_modules/.installed
	$(BIN)/pytest -q tests/e2e

# Issue 12's side-by-side table: anvil 1.7.1, the working tree and a baseline ref, 3 rounds of
# full sizes (each chain gets 300 s to grow; about 30 min on 2 cores); e.g. ARGS=--quick.
bench: $(VENV)/.installed node_modules/.installed
	$(BIN)/python scripts/bench_side_by_side.py $(ARGS)

# EXECUTE's re-execution vs py-evm's stateful import of the same blocks (200 transfers, 100
# storage writes), the tuned path and the reference A/B in one run; e.g. ARGS="--repeat 9".
bench-execute: $(VENV)/.installed
	$(BIN)/python scripts/bench_execute.py $(ARGS)

# The native rollup end to end: fresh L1 + L2 nodes, deposit, L2 txs, settlement through
# EXECUTE, withdrawal, forgeries, summary; the nodes are stopped by PID at the end.
demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py $(if $(SCENARIO),--scenario $(SCENARIO)) $(ARGS)

# The docker-compose stack for real (root or sudo; Debian bookworm like CI): installs the
# engine, compose and debootstrap when missing, builds a local Debian base image and the image,
# brings up l1/l2/relayer, runs the demo profile, kills and restarts l1, tears down (down -v);
# see README "Docker". BASE_IMAGE=python:3.11-slim uses Docker Hub's base instead.
compose-test:
	scripts/compose_test.sh

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

install: $(VENV)/.installed
npm: node_modules/.installed

$(VENV)/.runtime: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.runtime
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# `npm install` (not `npm ci`): Foundry's packages list per-platform optional binaries that
# the lock file cannot hold for other platforms, which `npm ci` refuses.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) node_modules
