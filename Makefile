# Set-up and everyday jobs. `make demo` and `make test` work from a clean clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test test-all bench bench-derive readme loc lint-imports clean generate

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# --no-compile: pip would byte-compile every module of every package (torch's thousands) at install; Python
# compiles the few a run imports on first use instead (a fresh install 113 s -> 49 s on the loaded 2-core machine),
# and keeps them unless PYTHONDONTWRITEBYTECODE is set: `make test` writes the suite's first ($(BYTECODE) below).
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q --no-compile -e .
	touch $@

# One pip call resolves the package and its test extras together (a second call would resolve again).
$(TSTAMP): pyproject.toml | $(PY)
	$(PIP) install -q --no-compile -e ".[test]"
	touch $(STAMP) $@

demo: $(STAMP) demo-programs
	$(VENV)/bin/symback grad "q = x + y; f = q*z" --at x=-2,y=5,z=-4
	$(VENV)/bin/symback derive examples/udl_toy.py --notation udl
	$(VENV)/bin/symback explain "q = x + y; f = q*z" --at x=-2,y=5,z=-4

# The suite runs on every core (pytest-xdist); tests that share a compiled module run on one worker
# (--dist loadgroup, groups set in tests/conftest.py). JOBS=0 runs it in one process.
# The layer contracts (make lint-imports, .importlinter) are checked first; LINT_IMPORTS=0 skips them.
JOBS         ?= auto
LINT_IMPORTS ?= 1

# Bytecode for what the suite's processes import (tools/bytecode.py), written again when a source changes: where
# PYTHONDONTWRITEBYTECODE=1 is set (this machine's shells) a --no-compile install leaves none, and each xdist worker
# and each CLI a test starts compiled SymPy, Numba, SciPy and torch from source again (`import symback` 3.0 s of
# CPU, 0.75 s from bytecode). Only this step writes bytecode; the suite runs with the variable as it was.
BYTECODE := $(VENV)/.bytecode
$(BYTECODE): $(TSTAMP) $(shell find symback tests -name '*.py') tools/bytecode.py
	env -u PYTHONDONTWRITEBYTECODE $(PY) tools/bytecode.py
	touch $@

test: $(TSTAMP) $(BYTECODE) test-programs
	$(PY) tools/loc.py --quiet
ifeq ($(LINT_IMPORTS),1)
	$(VENV)/bin/lint-imports
endif
	$(PY) -m pytest -n $(JOBS) --dist loadgroup

# The import-linter contracts in .importlinter: layers point one way, consumers stay independent.
lint-imports: $(TSTAMP)
	$(VENV)/bin/lint-imports

bench-derive: $(STAMP)
	$(PY) benchmarks/bench_derive.py

# Benchmark extras (torch, jax, pytensor) are not needed by `make test`.
# Note: pytensor pins numba<=0.65.1, so this resolves numba to 0.65.1 (inside our range).
bench: $(STAMP)
	$(PIP) install -q --no-compile -e ".[bench]"
	$(PY) benchmarks/bench_derive.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_entry.py
	$(PY) benchmarks/bench_epochs.py
	$(PY) benchmarks/bench_inference.py --threads 1
	$(PY) benchmarks/bench_batchnorm.py
	$(PY) benchmarks/bench_conv.py
	$(PY) benchmarks/bench_attention.py

readme: $(STAMP)
	$(PY) tools/readme.py

# Compile every network declared in examples/*.py into generated/ (symback compile; refuses hand-edited files).
generate: $(STAMP)
	$(PY) tools/generate.py

# Rewrite tests/golden/ (symback derive on the examples); review the diff before committing it.
.PHONY: golden
golden: $(STAMP)
	$(PY) tools/golden.py

# System programs, installed (Debian, as root) only where missing, all with one `apt-get update`
# (tools/system-packages.sh): Graphviz's `dot` draws the pictures; the LaTeX tests compile every golden .tex
# with pdflatex; the homework-file tests render a PDF's page to PNG with Poppler's pdftoppm; the interactive
# page's browser tests drive Debian's Chromium, headless, through its chromedriver. A test whose program is
# missing after this is skipped with the reason.
DEMO_PROGRAMS := dot:graphviz
TEST_PROGRAMS := $(DEMO_PROGRAMS) pdflatex:texlive-latex-base pdftoppm:poppler-utils chromium:chromium+ \
                 chromedriver:chromium-driver+

.PHONY: demo-programs test-programs
demo-programs:
	@sh tools/system-packages.sh $(DEMO_PROGRAMS)
test-programs:
	@sh tools/system-packages.sh $(TEST_PROGRAMS)

# Code lines of symback/ (no docstrings, comments or blank lines) against the budget in pyproject.toml
# ([tool.symback] loc-budget), and no file over 500 lines.
loc:
	$(PYTHON) tools/loc.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
