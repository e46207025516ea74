# Two entry points for a fresh Linux machine with Python 3.11+:
#   make run    set up .venv and run the default benchmark (config/config.yaml)
#   make test   set up .venv and run the test suite
# `make setup LOCKED=1` installs the exact versions of requirements.lock (those the tests passed with).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock

.PHONY: setup run test lint format docs lock clean

setup: $(VENV)/.installed

# Re-installs when the dependencies change. torch and torchvision come from the same index.
$(VENV)/.installed: pyproject.toml $(if $(LOCKED),$(LOCK))
	$(PYTHON) -m venv $(VENV)
	$(if $(LOCKED),$(BIN)/pip install -r $(LOCK))
	$(BIN)/pip install -e '.[test,lint]'
	touch $@

run: setup
	$(BIN)/snakemake --cores all

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt .

# Regenerates the config reference (config/README.md) from the schema.
docs: setup
	$(BIN)/python -m diffbench.docs config/README.md

# Records the exact versions of the environment the tests just passed in.
lock: setup
	{ echo "# Exact versions of the environment in which the full test suite passed (make lock, $$($(BIN)/python --version))."; \
	  echo "# make setup LOCKED=1 installs them; see docs/running.md."; \
	  $(BIN)/pip freeze --exclude-editable; } > $(LOCK)

clean:
	rm -rf results .snakemake
