# The two entry points a newcomer needs: `make demo` and `make test`.
# Everything is installed into .venv from the repo's own requirement files; nothing by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test test-stages tools lint unit emulator-test sanity integration integration-oldest packaging changelog docs docs-check dist molecule bench clean

setup: $(STAMP)

$(STAMP): requirements.txt test-requirements.txt emulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r test-requirements.txt -e './emulator[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

# Every test, three stages at a time (-j3) on CI's two cores: Molecule and ansible-test run one process at a
# time, and many steps wait (on the package registries, on settle times, on sshd); with two stages at a time
# a clean-clone make test took 933 s (its ~1,450 CPU-s keep two cores ~155% busy), with three 804 s (180%).
# -O prints each stage's output whole when it ends. The longest stages start first.
test:
	@$(MAKE) --no-print-directory -j3 -O test-stages
	@echo "make test: every stage passed"

test-stages: integration molecule integration-oldest sanity emulator-test packaging lint unit

# The collection seen at .build/collections/ansible_collections/azsecops/jit (ansible-lint, ansible-doc,
# Molecule, the integration tests). Made only when missing: `ln -sfn` replaces a link non-atomically, and
# stages running side by side read it.
COLLECTION_LINK = .build/collections/ansible_collections/azsecops/jit
LINK_COLLECTION = mkdir -p $(dir $(COLLECTION_LINK)) \
	&& { [ "$$(readlink $(COLLECTION_LINK))" = "$(CURDIR)" ] || ln -sfn $(CURDIR) $(COLLECTION_LINK); }

# System tools of the role tests (Chromium, OpenSSH), once for the stages that need them.
tools:
	scripts/test-tools.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# mypy.ini: the modules import module_utils by FQCN, resolved through this link to the checkout.
	mkdir -p .build/mypy/ansible_collections/azsecops && ln -sfn ../../../.. .build/mypy/ansible_collections/azsecops/jit
	$(BIN)/mypy
	$(BIN)/python scripts/role_readme.py --check
	$(LINK_COLLECTION)
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build/collections $(BIN)/ansible-lint roles playbooks extensions
	$(BIN)/antsibull-changelog lint
	$(BIN)/python scripts/check-changelog-fragments.py
	$(MAKE) --no-print-directory docs-check

unit: setup
	$(PYTEST) -q tests/unit

emulator-test: setup
	$(PYTEST) -q emulator/tests

# ansible-test needs the collection at .../ansible_collections/azsecops/jit; --venv builds its own
# pinned tool environments from PyPI (the pip bootstrap script is written locally, see the script).
sanity: setup
	$(BIN)/python scripts/ansible-test-pip-bootstrap.py
	cd "$$(scripts/collection-tree.sh)" && $(BIN)/ansible-test sanity --venv --python "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

integration: setup tools
	$(PYTEST) -q -n 2 --dist loadscope tests/integration

# The integration tests whose outcome can depend on versions (marked `oldest`, chosen in
# tests/integration/conftest.py) again on the oldest versions we claim to support (tests/oldest.txt): the
# lowest ansible-core of meta/runtime.yml and the lower bound of every runtime requirement.
OLDEST := .build/venv-oldest
# After .venv (order only): both install ./emulator in editable mode, which writes into emulator/.
$(OLDEST)/.installed: tests/oldest.txt requirements.txt emulator/pyproject.toml | $(STAMP)
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST)/bin/python -m pip install --quiet -r tests/oldest.txt 'pytest>=8' 'pytest-xdist>=3.5' 'ansible-runner>=2.3' -e ./emulator
	touch $@

integration-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/python -m pip list 2>/dev/null | grep -E '^(ansible-core|azure-identity|azure-mgmt-security|azure-mgmt-network) '
	$(OLDEST)/bin/python -m pytest -p no:cacheprovider -q -n 2 --dist loadscope -m oldest tests/integration
	$(OLDEST)/bin/python -m pytest -p no:cacheprovider -q emulator/tests/test_network_async.py

# What users install: the changelog, the collection tarball, the emulator's wheel, the EE build context, the
# rendered module docs (tests/packaging, see docs/development.md).
packaging: setup
	$(PYTEST) -q -n 2 tests/packaging

# Module and role docs rendered as plain RST (GitHub shows it) in docs/collection, from the collection's own
# docs via ansible-doc; tests/packaging/test_module_docs.py fails when they are stale.
RENDER_DOCS = $(LINK_COLLECTION) \
	&& rm -rf $(1) && mkdir -p $(1) \
	&& ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build/collections ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
	  $(BIN)/antsibull-docs collection --use-current --squash-hierarchy --output-format simplified-rst \
	  --fail-on-error --no-add-antsibull-docs-version --dest-dir $(1) azsecops.jit >/dev/null

docs: setup
	$(call RENDER_DOCS,docs/collection)

# In make lint: a module or role whose docs changed without `make docs` fails here, before it lands.
docs-check: setup
	$(call RENDER_DOCS,.build/docs-check)
	@diff -r docs/collection .build/docs-check >/dev/null || { echo "docs/collection is stale: run make docs"; exit 1; }

# The collection tarball and the emulator's wheel and sdist, in .build/dist (docs/installing.md).
dist: setup
	rm -rf .build/dist
	$(BIN)/ansible-galaxy collection build --output-path .build/dist
	$(BIN)/python -m build --outdir .build/dist emulator

# CHANGELOG.rst from changelogs/ (after `antsibull-changelog release --version X`, see docs/development.md).
changelog: setup
	$(BIN)/antsibull-changelog generate

# Molecule scenarios of the roles (extensions/molecule/) against jit-emulator; the test also proves that every
# step of every scenario ran (Molecule 26 passes a run whose step playbook is missing).
molecule: setup tools
	$(PYTEST) -q tests/molecule

bench: setup
	$(BIN)/python emulator/bench/bench.py
	$(BIN)/python tests/bench/onboard_1000.py
	$(BIN)/python tests/bench/roles_bench.py

clean:
	rm -rf $(VENV) .build .demo tests/output
