# Every target creates .venv and installs the pinned packages on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)

.PHONY: run test lint bench loadtest up down clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## run: serve the API on port 9000, on the embedded SQLite database unless MySQL is configured
run: $(STAMP)
	$(BIN)/python -m service serve --local-key

## test: the whole suite, on SQLite and on MySQL/MariaDB at TEST_MYSQL_URL when it is reachable
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The folders that exist of service/, tests/ and bench/, since ruff fails on a missing path.
LINT_PATHS := $(wildcard service tests bench)

## lint: ruff's checks and formatting, and mypy on service/
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy service

bench: $(STAMP)
	$(BIN)/python -m bench

loadtest: $(STAMP)
	$(BIN)/python -m bench.loadtest

## up: the Docker Compose stack with MySQL, creating .local-secrets/ on first use
up:
	./scripts/make-local-secrets
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

clean:
	rm -rf $(VENV) var .pytest_cache
