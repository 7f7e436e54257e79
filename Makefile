# One virtualenv for the demo, the tests and the docs; the benchmarks' peers get
# their own (.bench-venv) so that they never leak into the test environment.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick docs clean

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,images]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) demo/run.py $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

bench-quick: $(STAMP)
	$(PY) benchmarks/run.py --quick

docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	$(PY) -m sphinx -W -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .bench-venv *.egg-info docs/_build
