# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install prepare clean

$(BIN)/hanzi: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/hanzi

demo: install
	$(BIN)/hanzi demo

lint: install
	$(BIN)/ruff check .

# The machine first (fonts, services, their authentication), then the stroke data.
prepare:
	PYTHON=$(PYTHON) tests/prepare-machine

test: prepare install lint
	$(BIN)/hanzi fetch-strokes
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
