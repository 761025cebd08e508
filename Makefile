# irflow: `make run` shows a full response locally, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean graphviz chromium docs console-picture

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing irflow and its dev tools into $(VENV) (first run only)..."
	@$(BIN)/python -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -m pip install --quiet -e '.[dev]' >> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@touch $(STAMP)

run: install
	@$(BIN)/irflow simulate scenarios/ssh-brute-force.yaml

test: install graphviz chromium
	@$(BIN)/python -m pytest

# Graphviz `dot` lays out `irflow graph --format svg|png` (Debian's graphviz package); without it
# those formats (and their tests) are unavailable, Mermaid output still works.
graphviz:
	@command -v dot >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
	  echo "Installing Graphviz for irflow graph (first run only)..."; \
	  (apt-get update -qq && apt-get install -y -qq graphviz) > /tmp/irflow-graphviz.log 2>&1 \
	  || echo "Graphviz could not be installed (see /tmp/irflow-graphviz.log): svg/png graphs unavailable"; }

# Debian's Chromium runs the console's end-to-end browser test headless (tests/console/test_browser.py
# drives it over its DevTools pipe: no driver, nothing downloaded); without it that test is skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
	  echo "Installing Chromium for the console's browser test (first run only)..."; \
	  (apt-get update -qq && apt-get install -y -qq chromium) > /tmp/irflow-chromium.log 2>&1 \
	  || echo "Chromium could not be installed (see /tmp/irflow-chromium.log): the browser test will be skipped"; }

# The README's picture of the console, taken by the browser test at the moment the approval waits.
console-picture: install graphviz chromium
	@IRFLOW_CONSOLE_SCREENSHOT=docs/console.png $(BIN)/python -m pytest -q tests/console/test_browser.py && echo docs/console.png

# The pictures of the shipped playbooks in docs/playbooks/ (run after changing a definition).
docs: install graphviz
	@mkdir -p docs/playbooks; for d in workflows/*/; do p=$$(basename $$d); \
	  $(BIN)/irflow graph $$p --format mermaid -o docs/playbooks/$$p.mmd && \
	  $(BIN)/irflow graph $$p --format svg -o docs/playbooks/$$p.svg && echo "docs/playbooks/$$p.svg"; done

lint: install
	@$(BIN)/ruff check irflow tasks tests
	@$(BIN)/mypy

bench: install
	@$(BIN)/python -m irflow.bench

clean:
	rm -rf $(VENV) build *.egg-info
