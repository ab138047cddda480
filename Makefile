# klcourse: `make book` builds the HTML book, `make test` runs every test.
# Both create .venv and install what they need on first use.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV := uv==0.13.9
# Notebooks run with this device; set KLCOURSE_DEVICE=cpu to hide a GPU.
export KLCOURSE_DEVICE ?=
export PYTHONHASHSEED := 0

.PHONY: help venv browser sandbox test unit lint nbval book lab notebooks bench execute student grade clean lock reproducibility
# Root installs system packages directly (CI); anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make test   lint, unit tests, doctests and nbval over chapters/"
	@echo "make unit   the fast tests only (no book, browser or Colab-like run)"
	@echo "make lint   ruff over the package, tests, bench and notebooks"
	@echo "make lab    open JupyterLab on your own copies of the notebooks (my_notebooks/)"
	@echo "make notebooks  remake notebooks/ (for Jupyter and Colab) from chapters/"
	@echo "make bench  run the benchmarks, write bench/RESULTS.md"
	@echo "make reproducibility  nbval under other CPU kernels and thread counts"
	@echo "make lock   refresh requirements.lock (exact versions) from pyproject.toml"
	@echo "make execute  re-run every notebook in place (after editing one)"
	@echo "make student  student edition (no solutions) in _build/student"
	@echo "make grade SUBMISSIONS=dir/ [CHAPTERS=\"01 02\"]  grade dir/<student>/<chapter>.ipynb"

# Installs come from the lock: every package at the version the course was tested with.
# pyproject.toml keeps the ranges; `make lock` refreshes the pins within them.
# uv installs the lock's wheels in parallel: about 25 s where pip takes two minutes.
# --compile-bytecode: unlike pip, uv writes no .pyc files unless asked, and where
# PYTHONDONTWRITEBYTECODE is set (it is on the machines we test on) every new
# interpreter compiles TensorFlow's sources again: 22 s per import instead of 7.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip $(UV)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

# Exact versions for Python 3.11 on Linux x86-64, resolved by uv within pyproject.toml's ranges.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra book --extra test --extra instructor \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	  --no-header --annotation-style line --quiet -o requirements.lock

# nbval over every notebook under several OpenBLAS kernels, one thread, and TensorFlow with
# and without oneDNN: the table goes into bench/RESULTS.md (see klcourse.precision).
reproducibility: $(STAMP)
	$(PY) bench/reproducibility.py

venv: $(STAMP)

# The browser tests drive Debian's chromium through its chromedriver (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium and chromium-driver for the browser tests"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# Grading runs submissions in Debian's bubblewrap sandbox (and refuses to run without one).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "Installing Debian's bubblewrap, the sandbox grading runs submissions in"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }

test: $(STAMP) lint browser sandbox
	$(PY) -m pytest klcourse tests --nbval chapters --nbval-current-env -p no:cacheprovider \
	  --durations=30

# The fast tier: no book build, browser, Colab-like environment or slow sweep.
unit: $(STAMP)
	$(PY) -m pytest klcourse tests -p no:cacheprovider -q -m "not slow and not book and not browser and not colab"

# Code at 100 columns (pyproject.toml); notebook code cells at 88, which the book shows
# without a sideways scroll bar.
lint: $(STAMP)
	$(VENV)/bin/ruff check klcourse tests bench _ext
	$(VENV)/bin/ruff format --check klcourse tests bench _ext
	$(VENV)/bin/ruff check --line-length 88 chapters/*.ipynb

nbval: $(STAMP)
	$(PY) -m pytest --nbval chapters --nbval-current-env -p no:cacheprovider

# Incremental: after editing one chapter only that chapter is re-read. Still a gate:
# without --keep-going the first warning aborts the build before Sphinx saves its
# environment, so a broken page is re-read (and fails) on every build until fixed.
# The flags are defined once, in klcourse.instructor.course (the tests and the student
# edition build the book with the same command).
book: $(STAMP)
	$(PY) -m klcourse.instructor book

# Students work on copies: a chapter is copied from notebooks/ (plain Jupyter Markdown)
# only when my_notebooks/ has none yet, so an update of the course never overwrites work.
lab: $(STAMP)
	mkdir -p my_notebooks
	for nb in notebooks/*.ipynb; do \
	  [ -e "my_notebooks/$${nb##*/}" ] || cp "$$nb" my_notebooks/; done
	$(VENV)/bin/jupyter lab my_notebooks/

# The Jupyter-flavoured notebooks that Colab, Binder and the download button open.
# Committed; tests/test_jupyter_flavour.py fails when they lag behind chapters/.
notebooks: $(STAMP)
	$(PY) -m klcourse.jupyter_flavour chapters notebooks

bench: $(STAMP)
	$(PY) bench/run.py

execute: $(STAMP)
	for nb in chapters/*.ipynb; do \
	  KLCOURSE_EXPLORE_JS=book $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.record_timing=False "$$nb"; done  # no timestamps in the notebooks
	$(PY) -m klcourse.jupyter_flavour chapters notebooks

student: $(STAMP)
	$(PY) -m klcourse.instructor student

# Options: CHAPTERS="01 02" (the assignment; default: every chapter), GRADE_FLAGS=--resume
grade: $(STAMP) sandbox
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/submissions/"; exit 2; }
	$(PY) -m klcourse.instructor grade "$(SUBMISSIONS)" $(if $(CHAPTERS),--chapters $(CHAPTERS)) $(GRADE_FLAGS)

clean:
	rm -rf _build
