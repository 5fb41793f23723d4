# The two entry points a newcomer needs: `make demo` and `make test`.
# Everything is installed into .venv from the repo's own requirement files.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test lint emulator-test unit sanity integration molecule bench clean

setup: $(STAMP)

$(STAMP): requirements.txt test-requirements.txt emulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r test-requirements.txt -e './emulator[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

emulator-test: setup
	$(BIN)/python -m pytest -q emulator/tests

test: lint emulator-test

clean:
	rm -rf $(VENV) .build tests/output .demo
