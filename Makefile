# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv when it is missing.
# `make docs` builds the documentation site into site/ (warnings are errors); `make docs-serve` serves it
# at http://127.0.0.1:8000 and rebuilds on changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench docs docs-serve

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(VENV)/bin/lint-imports    # the layering of DESIGN.md (pyproject.toml [tool.importlinter]): imports point down
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=40

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/nonstiff.py
	$(PY) benchmarks/stiff.py
	$(PY) benchmarks/gradients.py
	$(PY) benchmarks/pinn.py
	$(PY) benchmarks/events_dde.py
	$(PY) benchmarks/dde.py
	$(PY) benchmarks/sindy.py
	$(PY) benchmarks/ude.py

docs: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve
