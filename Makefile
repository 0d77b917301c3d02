# Every target CI runs is here; `make test` and `make run` set themselves up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench chaos clean postgres

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

# PostgreSQL binaries for the store's contract tests (Debian's package; skipped when apt is absent).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "postgresql could not be installed: its tests will be skipped"; \
	  fi; \
	fi

run: setup
	$(BIN)/python examples/demo.py

test: setup postgres
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/tessera --ignore-missing-imports

bench: setup
	$(BIN)/python benchmarks/scheduler.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
