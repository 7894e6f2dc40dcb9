# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(VENV)/bin/lint-imports    # the layering of DESIGN.md (pyproject.toml [tool.importlinter]): imports point down
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

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
