# The two entry points a newcomer needs: `make demo` and `make test`.
# Everything is installed into .venv from the repo's own requirement files; nothing by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test lint unit emulator-test sanity integration bench clean

setup: $(STAMP)

$(STAMP): requirements.txt test-requirements.txt emulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r test-requirements.txt -e './emulator[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

test: lint unit emulator-test sanity integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(PYTEST) -q tests/unit

emulator-test: setup
	$(PYTEST) -q emulator/tests

# ansible-test needs the collection at .../ansible_collections/azsecops/jit; --venv builds its own
# pinned tool environments from PyPI (the pip bootstrap script is written locally, see the script).
sanity: setup
	$(BIN)/python scripts/ansible-test-pip-bootstrap.py
	cd "$$(scripts/collection-tree.sh)" && $(BIN)/ansible-test sanity --venv --python "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

integration: setup
	$(PYTEST) -q -n 2 tests/integration

bench: setup
	$(BIN)/python emulator/bench/bench.py
	$(BIN)/python tests/bench/onboard_1000.py

clean:
	rm -rf $(VENV) .build .demo tests/output
