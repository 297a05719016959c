# Two commands on a fresh machine with python3, node and npm: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AZURITE := tools/node_modules/.bin/azurite

.PHONY: run test lint bench soak clean deps mutate mutate-deps browser-deps

deps: $(VENV)/.installed $(AZURITE)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(AZURITE): tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests (tests/browser) drive Debian's chromium through Playwright's Python client; never
# `playwright install`. Installed once with apt-get (as root, as in CI) when /usr/bin/chromium is missing.
browser-deps:
	@test -x /usr/bin/chromium || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core; }

run: deps
	$(PY) -m tools.run_local

test: deps browser-deps
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q

lint: deps
	$(PY) -m ruff check .
	$(PY) -m mypy

soak: deps
	$(PY) -m tools.soak

bench: deps
	$(PY) -m tools.bench_flows $(BENCH_ARGS)
	$(PY) -m tools.bench_policy
	$(PY) -m tools.bench_purge

# Mutation testing of the decision modules: pure ones against their unit tests, storage-deciding ones against
# targeted integration tests on a throwaway Azurite (~35 min; not part of `make test`).
# Prints killed/survived per module; survivors go to docs/mutation-survivors.txt (see docs/testing.md).
mutate: deps mutate-deps
	$(PY) -m tools.mutate

mutate-deps: .venv-mutate/.installed

.venv-mutate/.installed: requirements-mutate.txt
	test -x .venv-mutate/bin/python || $(PYTHON) -m venv .venv-mutate
	.venv-mutate/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-mutate.txt
	touch $@

clean:
	rm -rf .azurite .pytest_cache .mypy_cache
