# The README's two commands are `make demo` and `make test`; both set everything up first.
# Setup is idempotent: a fresh machine gets a .venv with kindling-core (editable), the test
# tools, the contrib plugins, the pinned pyspark/delta-spark pair and Delta's jars.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kindling-setup

.PHONY: setup demo test test-fast lint bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml contrib/kindling-webhook/pyproject.toml scripts/setup-spark.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]" -e contrib/kindling-webhook
	bash scripts/setup-spark.sh $(PY)
	touch $(STAMP)

demo: setup
	$(VENV)/bin/kindling run

test: setup lint
	$(PY) -m pytest

# ruff and mypy as configured in pyproject.toml ([tool.ruff], [tool.mypy]); part of `make test`.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-fast: setup
	$(PY) -m pytest -m "not spark and not slow"

bench: setup
	$(PY) benchmarks/bench_signals.py
	$(PY) benchmarks/bench_plugins.py
	$(PY) benchmarks/bench_planning.py
	$(PY) benchmarks/bench_listener.py
	$(PY) benchmarks/bench_streams.py
	$(PY) benchmarks/bench_recovery.py
	$(PY) benchmarks/bench_restarts.py

docs: setup
	$(PY) -m kindling_core.docgen

clean:
	rm -rf $(VENV) .kindling build dist demo-output
