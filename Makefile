# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
# Python 3.12 comes from pyenv (.python-version) or python3.12 on PATH; uv does the install, compiling
# bytecode up front (this machine sets PYTHONDONTWRITEBYTECODE: otherwise every process recompiles ~3,000
# modules, ~6 s of each start-up).
PYTHON ?= $(shell pyenv which python3.12 2>/dev/null || command -v python3.12)
VENV := .venv
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DAGSTER_HOME
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# Runs launched from the UI batch their per-session events (see trading_pipeline/dagster_internals/batched_event_log.py).
export DAGSTER_EVENT_BATCH_SIZE := 10000
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS := 1

.PHONY: install lock lint demo test ui bench

# The versions installed are the ones in uv.lock (`make lock` after changing pyproject.toml's dependencies);
# --inexact keeps uv itself, which lives in the same environment.
$(VENV)/.installed: pyproject.toml uv.lock
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or set PYTHON=" >&2; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/python -m uv sync --quiet --frozen --inexact --extra dev --compile-bytecode --python $(VENV)/bin/python
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: | install
	$(VENV)/bin/python -m trading_pipeline.instance $(DAGSTER_HOME)

demo: install
	$(VENV)/bin/trading-pipeline demo

lock:
	$(VENV)/bin/python -m uv lock

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install
	$(VENV)/bin/python -m pytest -q -n auto

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -w workspace.yaml

bench: install
	$(VENV)/bin/python benchmarks/backtest_scaling.py
