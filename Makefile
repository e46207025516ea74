# Two entry points for a fresh Linux machine with Python 3.11+:
#   make run    set up .venv and run the default benchmark (config/config.yaml)
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint docs clean

setup: $(VENV)/.installed

# Re-installs when the dependencies change. torch and torchvision come from the same index.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[test]'
	touch $@

run: setup
	$(BIN)/snakemake --cores all

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/snakemake --lint

# Regenerates the config reference in README.md from the schema.
docs: setup
	$(BIN)/python -m diffbench.docs README.md

clean:
	rm -rf results .snakemake
