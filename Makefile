# OLCS: every entry point. CI (.ci/run) runs `make ci`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PROD_ENV := DEBUG=false ALLOWED_HOSTS=olcs.example.org \
	SECRET_KEY=ci-only-$$(printf 'x%.0s' {1..60}) HMAC_SECRET_KEY=ci-only-$$(printf 'y%.0s' {1..40})
# DEBUG defaults to false (production): the development targets turn development mode on
# themselves, unless DEBUG is already set in the environment.
DEV_ENV := DEBUG=$${DEBUG:-true}

.PHONY: help install run web worker migrate test test-sqlite test-postgres test-both lint format \
	migrations-check schema-check check-deploy security-lint check-security ci clean

help:
	@echo "make run            set up (venv, install, migrate, demo library) and start web + worker"
	@echo "make test           the whole test suite (SQLite; DATABASE_URL=postgres://... for PostgreSQL)"
	@echo "make lint           ruff lint and format check"
	@echo "make check-security the security checks alone: schema, deploy checklist, bandit, attack tests"
	@echo "make ci             everything CI checks, on SQLite and PostgreSQL"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput

# Web server and worker together on the embedded SQLite database; Ctrl-C stops both.
run: migrate
	$(DEV_ENV) $(BIN)/python manage.py setup_demo --base-url http://$(HOST):$(PORT)
	@echo "Starting the worker (qcluster) and the web server on http://$(HOST):$(PORT)/ ..."
	@export $(DEV_ENV); $(BIN)/python manage.py qcluster & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

web: migrate
	$(DEV_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: migrate
	$(DEV_ENV) $(BIN)/python manage.py qcluster

test: install
	$(BIN)/python -m pytest

test-sqlite: install
	env -u DATABASE_URL $(BIN)/python -m pytest

test-postgres: install
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL=postgres://user:pass@host/db" && exit 2)
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema-check: install
	env -u DATABASE_URL $(DEV_ENV) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

migrations-check: install
	env -u DATABASE_URL $(DEV_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

check-deploy: install
	env -u DATABASE_URL $(PROD_ENV) $(BIN)/python manage.py check --deploy --fail-level WARNING

# Static security lint: 0 medium or high findings (reviewed false positives carry `# nosec <id>`).
security-lint: install
	$(BIN)/bandit -c pyproject.toml -r catalog ingestion olcs patrons tenants bench manage.py -q -ll

# The security checks on their own (tests/security also runs in every `make test`): the schema,
# the deploy checklist, bandit, then fuzzing, the route sweep, the isolation matrix and canaries.
check-security: schema-check check-deploy security-lint
	env -u DATABASE_URL $(BIN)/python -m pytest -q -p no:cacheprovider tests/security

# Both suites at once: they share nothing (their own databases, their own Redis database
# numbers, their own temp files), and much of each is waiting on child processes and servers.
# Each one's output is printed when both are done; either failing fails the target.
test-both: install
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL=postgres://user:pass@host/db" && exit 2)
	@logs=$$(mktemp -d); redis="$${TEST_REDIS_URL:-}"; \
	env -u DATABASE_URL $${redis:+TEST_REDIS_URL=$${redis%/*}/1} $(BIN)/python -m pytest -p no:cacheprovider > $$logs/sqlite.log 2>&1 & sqlite=$$!; \
	$${redis:+env TEST_REDIS_URL=$${redis%/*}/2} $(BIN)/python -m pytest -p no:cacheprovider > $$logs/postgres.log 2>&1 & postgres=$$!; \
	wait $$sqlite; sqlite_status=$$?; wait $$postgres; postgres_status=$$?; \
	echo "== the suite on SQLite (exit $$sqlite_status)"; cat $$logs/sqlite.log; \
	echo "== the suite on PostgreSQL (exit $$postgres_status)"; cat $$logs/postgres.log; \
	rm -rf $$logs; test $$sqlite_status = 0 && test $$postgres_status = 0

ci: lint migrations-check schema-check check-deploy security-lint test-both

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles db.sqlite3 db.sqlite3-*
