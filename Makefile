# Every target CI runs is here; `make test` and `make run` set themselves up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run demo test lint bench chaos soak clean postgres web chromium

setup: $(STAMP)
	@# tessera's own bytecode, as an installed wheel has it: an editable install writes none where
	@# PYTHONDONTWRITEBYTECODE is set, and every process (each warm worker too) would compile the
	@# sources again on import. Quick when nothing changed.
	@$(BIN)/python -m compileall -q src/tessera >/dev/null

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,plot]'
	# PyTorch's CPU wheel (pinned: an unpinned torch would pull several GB of CUDA packages), so
	# the tests exercise the same PyTorch code path on the CPU that runs on CUDA.
	$(BIN)/pip install -q torch==2.13.0 || echo "torch 2.13.0 not available: its tests will be skipped"
	@touch $(STAMP)

# PostgreSQL binaries for the store's contract tests (Debian's package; skipped when apt is absent).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "postgresql could not be installed: its tests will be skipped"; \
	  fi; \
	fi

# Debian's chromium for the browser tests (Playwright drives it; its own browser download is never
# used). Skipped, and the browser tests skip saying why, only where apt cannot install it.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser tests will be skipped"; \
	  fi; \
	fi

# The demo job file on this machine, in a fresh TESSERA_HOME unless one is set; stops its controller.
run: setup
	@home=$${TESSERA_HOME:-$$(mktemp -d)}; export TESSERA_HOME=$$home; \
	  $(BIN)/tessera run examples/seismic_survey.yaml; rc=$$?; \
	  if [ $$rc -eq 0 ]; then \
	    echo; echo "The stacked image:"; \
	    $(BIN)/tessera workflow outputs seismic-survey plot --copy-to out/; \
	    job=$$($(BIN)/tessera workflow show seismic-survey --json | $(BIN)/python -c \
	      'import json, sys; print(next(s["job_id"] for s in json.load(sys.stdin)["steps"] if s["step"] == "migrate"))'); \
	    echo; echo "Where the migration ran (tessera explain $$job):"; \
	    $(BIN)/tessera explain $$job | sed -n '/^Placement/,$$p'; \
	    echo; $(BIN)/tessera cost --by array; \
	  fi; \
	  $(BIN)/tessera down >/dev/null; \
	  echo "state kept in $$home (TESSERA_HOME=$$home $(BIN)/tessera ls)"; exit $$rc

# The core engine's demo: an array, a dependency chain and a job that fails once and is retried.
demo: setup
	@home=$${TESSERA_HOME:-$$(mktemp -d)}; export TESSERA_HOME=$$home; \
	  $(BIN)/tessera run examples/demo.yaml; rc=$$?; \
	  $(BIN)/tessera down >/dev/null; \
	  echo "state kept in $$home (TESSERA_HOME=$$home $(BIN)/tessera ls)"; exit $$rc

test: setup postgres chromium
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/tessera --ignore-missing-imports

# Peers are installed for the benchmark only; they are not tessera dependencies.
bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/scheduler.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/kernels.py
	$(BIN)/python benchmarks/workflows.py

# The dashboard and workflow editor (web/, React + Vite): rebuilds the assets committed under
# src/tessera/server/static, so installing tessera never needs Node.
web:
	cd web && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) build dist src/*.egg-info

# The reliability contract at full counts (CI runs the same tests with reduced counts).
chaos: setup
	TESSERA_CHAOS=full $(BIN)/python -m pytest -q -s tests/chaos

# 100,000 short jobs, a worker killed every 30 s, the controller every 5 min: 0 lost/duplicated/leaked.
soak: setup
	$(BIN)/python -m tests.chaos.soak --jobs 100000 --worker-kill-s 30 --controller-restart-s 300 --job-s 0.01
