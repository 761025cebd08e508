# irflow: `make run` shows a full response locally, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing irflow and its dev tools into $(VENV) (first run only)..."
	@$(BIN)/python -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -m pip install --quiet -e '.[dev]' >> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@touch $(STAMP)

run: install
	@$(BIN)/irflow demo

test: install
	@$(BIN)/python -m pytest

lint: install
	@$(BIN)/ruff check irflow tasks tests
	@$(BIN)/mypy

bench: install
	@$(BIN)/python -m irflow.bench

clean:
	rm -rf $(VENV) build *.egg-info
