# The two set-up commands of the README, and what they stand on.
#   make demo   install, ingest this repository's docs/ with the embedded defaults, search them
#   make test   install with the test extras, run the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-dev demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"

demo: install
	$(BIN)/dayshift --data-dir .dayshift/demo ingest docs
	$(BIN)/dayshift --data-dir .dayshift/demo search "how does dayshift keep stale chunks out of search" --k 3
	$(BIN)/dayshift --data-dir .dayshift/demo status

test: install-dev
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python benchmarks/beir.py --dataset ../shared/data/beir/scifact

clean:
	rm -rf $(VENV) .dayshift .pytest_cache
