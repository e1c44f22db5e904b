# Set-up and everyday jobs. `make demo` and `make test` work from a clean clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test test-all bench bench-derive readme loc clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(TSTAMP): pyproject.toml $(STAMP)
	$(PIP) install -q -e ".[test]"
	touch $@

demo: $(STAMP)
	$(VENV)/bin/symback grad "q = x + y; f = q*z" --at x=-2,y=5,z=-4

test: $(TSTAMP)
	$(PY) -m pytest

bench-derive: $(STAMP)
	$(PY) benchmarks/bench_derive.py

readme: $(STAMP)
	$(PY) tools/readme.py

loc:
	@find symback -name '*.py' | xargs wc -l | sort -n | tail -25

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
