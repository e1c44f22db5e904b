# Set-up and everyday jobs. `make demo` and `make test` work from a clean clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test test-all bench bench-derive readme loc clean generate

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(TSTAMP): pyproject.toml $(STAMP)
	$(PIP) install -q -e ".[test]"
	touch $@

demo: $(STAMP) graphviz-dot
	$(VENV)/bin/symback grad "q = x + y; f = q*z" --at x=-2,y=5,z=-4
	$(VENV)/bin/symback derive examples/udl_toy.py --notation udl
	$(VENV)/bin/symback explain "q = x + y; f = q*z" --at x=-2,y=5,z=-4

test: $(TSTAMP) graphviz-dot pdflatex
	$(PY) -m pytest

bench-derive: $(STAMP)
	$(PY) benchmarks/bench_derive.py

# Benchmark extras (torch, jax, pytensor) are not needed by `make test`.
# Note: pytensor pins numba<=0.65.1, so this resolves numba to 0.65.1 (inside our range).
bench: $(STAMP)
	$(PIP) install -q -e ".[bench]"
	$(PY) benchmarks/bench_derive.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench_train.py

readme: $(STAMP)
	$(PY) tools/readme.py

# Compile every network declared in examples/*.py into generated/ (symback compile; refuses hand-edited files).
generate: $(STAMP)
	$(PY) tools/generate.py

# Rewrite tests/golden/ (symback derive on the examples); review the diff before committing it.
.PHONY: golden
golden: $(STAMP)
	$(PY) tools/golden.py

# `symback draw` runs Graphviz's `dot` program; install it (Debian, as root) only where it is missing.
.PHONY: graphviz-dot
graphviz-dot:
	@command -v dot >/dev/null || (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
	  || echo "make: could not install Graphviz's 'dot' (needed to draw pictures; those tests are skipped): apt-get install graphviz, or brew install graphviz" >&2

# The LaTeX tests compile every golden .tex with pdflatex; install TeX Live's LaTeX base (Debian, as root,
# about a minute) only where pdflatex is missing.
.PHONY: pdflatex
pdflatex:
	@command -v pdflatex >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends texlive-latex-base >/dev/null) \
	  || echo "make: could not install pdflatex (the LaTeX compile tests are skipped): apt-get install texlive-latex-base" >&2

loc:
	@find symback -name '*.py' | xargs wc -l | sort -n | tail -25

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
