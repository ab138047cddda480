# klcourse: `make book` builds the HTML book, `make test` runs every test.
# Both create .venv and install what they need on first use.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Notebooks run with this device; set KLCOURSE_DEVICE=cpu to hide a GPU.
export KLCOURSE_DEVICE ?=
export PYTHONHASHSEED := 0

.PHONY: help venv test unit nbval book lab bench execute student grade clean

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make test   unit tests, doctests and nbval over chapters/"
	@echo "make lab    open JupyterLab on the chapters"
	@echo "make bench  run the benchmarks, write bench/RESULTS.md"
	@echo "make execute  re-run every notebook in place (after editing one)"
	@echo "make student  student edition (no solutions) in _build/student"
	@echo "make grade SUBMISSIONS=dir/  grade dir/<student>/<chapter>.ipynb into _build/grades"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test,instructor]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest klcourse tests --nbval chapters --nbval-current-env -p no:cacheprovider

unit: $(STAMP)
	$(PY) -m pytest klcourse tests -p no:cacheprovider

nbval: $(STAMP)
	$(PY) -m pytest --nbval chapters --nbval-current-env -p no:cacheprovider

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --all --warningiserror --nitpick --keep-going
	@echo "The book is in _build/html: open $(CURDIR)/_build/html/index.html"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab chapters/

bench: $(STAMP)
	$(PY) bench/run.py

execute: $(STAMP)
	for nb in chapters/*.ipynb; do \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace "$$nb"; done

student: $(STAMP)
	$(PY) -m klcourse.instructor student

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/submissions/"; exit 2; }
	$(PY) -m klcourse.instructor grade "$(SUBMISSIONS)"

clean:
	rm -rf _build
