# Quick start:  make run   (install, create a home with a demo project, serve on :8080)
#               make test  (install test dependencies, system packages too, run the suite)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
VESALIUS := $(VENV)/bin/vesalius
export VESALIUS_HOME ?= $(CURDIR)/vesalius-data
SYSTEM_PACKAGES := dcmtk dicom3tools chromium fonts-dejavu-core postgresql-client libgl1 libglib2.0-0

.PHONY: install install-test system-deps run test test-pg lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e .

install-test: $(PY)
	$(PY) -m pip install --quiet -e '.[test]'

# System tools the tests drive (DCMTK, Chromium). Installed when running as root with apt;
# otherwise the tests that need them say which package is missing.
system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(SYSTEM_PACKAGES); do \
			dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		fi; \
	else echo "not root with apt: make sure these Debian packages are installed: $(SYSTEM_PACKAGES)"; fi

run: install
	@if [ ! -d "$(VESALIUS_HOME)" ]; then $(VESALIUS) init && $(VESALIUS) demo; fi
	$(VESALIUS) serve

lint: install-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

test: install-test system-deps lint
	$(VENV)/bin/pytest -q

# The same suite on PostgreSQL (a server on 127.0.0.1:5432, user postgres, trust auth).
test-pg: install-test system-deps
	VESALIUS_TEST_DATABASE_URL=$${VESALIUS_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		$(VENV)/bin/pytest -q

bench: install-test
	$(PY) bench/import.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
