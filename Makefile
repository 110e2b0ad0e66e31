# The two commands: `make up` and `make test`. Everything else is what they are made of.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ALUMAIL := $(BIN)/alumail
DEMO_UID ?= demo.alumnus

.PHONY: up down status test lint unit integration image bench bench-web bench-circles bench-circle-mail bench-migration install install-test system system-test venv clean

## up: install what is missing, start the stack, provision a demo alumnus, verify, print endpoints
up: install
	$(ALUMAIL) up --demo $(DEMO_UID)

down: venv
	$(ALUMAIL) down

status: venv
	$(ALUMAIL) status

## test: install (with the browser the tests drive), lint, run every test tier
test: install-test lint
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m provisioning.catalogs

unit: venv
	$(BIN)/pytest -m unit

integration: install-test
	$(BIN)/pytest -m "integration or e2e"

## image: the production image (docker/), built with podman exactly as its test builds it
image: install-test
	bash docker/build.sh alumail:latest

## bench: import, bind and login throughput beside references measured in the same run
bench: install
	$(BIN)/python -m bench.run

## bench-web: the web service's requests/s, the provider's token and introspection throughput,
## IMAP logins/s with XOAUTH2 beside passwords
bench-web: install
	$(BIN)/python -m bench.web

## bench-circles: the circles' rankings and a board page (10k circles, 1M posts) beside plain SQL
bench-circles: venv
	$(BIN)/python -m bench.circles

## bench-circle-mail: one message to a 5,000-member circle's address beside one to one mailbox
bench-circle-mail: install
	$(BIN)/python -m bench.circle_mail

## bench-migration: legacy mailbox migration beside a plain IMAP fetch; backups
bench-migration: install
	$(BIN)/python -m bench.migration

install: system venv

# The system packages come first: python-ldap builds against OpenLDAP's headers.
install-test: system-test venv

system-test:
	bash scripts/install-system.sh --test

system:
	bash scripts/install-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output
