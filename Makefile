# `make demo` and `make test` on a fresh machine: the first run creates .venv/ and
# installs Reelflow with its development dependencies; later runs reuse it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo dev test lint format bench chaos clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Reelflow needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/reelflow demo

dev: install
	$(BIN)/reelflow dev

lint: install
	$(BIN)/ruff check reelflow tests bench
	$(BIN)/ruff format --check reelflow tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix reelflow tests bench
	$(BIN)/ruff format reelflow tests bench

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/runtime.py --json bench/results/runtime.json
	$(BIN)/python bench/adapters.py --json bench/results/adapters.json
	$(BIN)/python bench/engagement.py --json bench/results/engagement.json
	$(BIN)/python bench/api.py --json bench/results/api.json
	$(BIN)/python bench/discovery.py --baseline-delay 2 --json bench/results/discovery.json
	$(BIN)/python bench/common.py --json bench/results/clipping.json -- $(BIN)/python bench/clipping.py --json bench/results/clipping.json

# The chaos suite (not part of `make test`): the Procfile topology broken on purpose.
chaos: install
	$(BIN)/python bench/chaos.py --json bench/results/chaos.json

clean:
	rm -rf $(VENV) .reelflow .pytest_cache .mypy_cache .ruff_cache
