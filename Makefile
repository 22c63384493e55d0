# The one place commands live; README, .ci/run and humans call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
# install.sh puts uv in ~/.local/bin for a user that is not root; the targets after it need it.
export PATH := $(HOME)/.local/bin:$(PATH)
STACK := $(PY) -m coaching_devstack
SERVICES := $(PY) -m coaching_devstack services
# The unit tests: every test that needs no running stack (kit's pytest plugin marks the others).
UNIT := -m "not stack and not chaos"
# How `install` syncs the Python env: the default groups (dev), exactly. `bench` and
# `test-bench` widen it to the bench group, for themselves and for the `install` they run.
SYNC := uv sync --frozen
bench test-bench: SYNC := uv sync --frozen --group bench
# Python 3.13 for test-unit-313: one uv has, else pyenv's; with neither, uv downloads one
# where it can reach its downloads.
PYTHON_313 = $(or $(shell uv python find 3.13 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1),3.13)

.PHONY: help install up down status demo test test-fast test-unit-313 test-bench lint schemas fmt chaos chaos-short

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: ## install what is missing (PostgreSQL, Java/Maven, uv, Kafka jars) and the Python env
	bash deploy/devstack/install.sh
	$(SYNC)

up: install ## start Kafka, PostgreSQL and every service in the background; returns when ready
	$(STACK) up
	$(SERVICES) up

down: ## stop the services and the stack (data is kept; `.venv/bin/python -m coaching_devstack reset` wipes it)
	-$(SERVICES) down
	-$(STACK) down

status: ## what runs, and whether it is ready
	-$(STACK) status
	-$(SERVICES) status

demo: up ## from nothing: install, start everything, run the scenario over Kafka, then over HTTP
	$(PY) scripts/demo.py
	$(PY) -m coaching_gateway.demo

test: install ## the whole test suite over the real stack, the 90-second chaos run included
	$(STACK) up
	$(PY) -m pytest

test-fast: ## unit tests only (no stack)
	$(PY) -m pytest $(UNIT)

test-unit-313: ## the unit tests on Python 3.13, in .venv-313 (no stack; needs `make install`'s uv)
	UV_PROJECT_ENVIRONMENT=.venv-313 uv sync --frozen --python "$(PYTHON_313)"
	.venv-313/bin/python -m pytest $(UNIT)

test-bench: install ## the benchmark harness's own tests, a tiny benchmark run included (installs the bench group)
	$(STACK) up
	$(PY) -m pytest tests/bench

lint: ## ruff, formatting, mypy strict, import contracts
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy contracts/src services/*/src chaos/src cli/src deploy/devstack/src
	.venv/bin/mypy deploy/k8s bench docs/examples
	.venv/bin/lint-imports

chaos: install ## 10 minutes of mixed load under faults on a private stack, then every invariant
	$(PY) -m coaching_chaos.run --duration 600

chaos-short: install ## the 90-second chaos run as a test (about 3 minutes)
	$(PY) -m pytest -m chaos

schemas: ## regenerate the committed JSON Schemas and AsyncAPI document from the contract models
	$(PY) -m coaching_contracts.schema write
	$(PY) -m coaching_contracts.asyncapi write

.PHONY: manifests
manifests: ## regenerate deploy/k8s from the code: topics, Kafka users and ACLs, workloads, network policies, autoscalers, monitoring, production secrets
	$(PY) deploy/k8s/generate.py write

.PHONY: bench
bench: install ## the benchmark: monolith baseline, raw Kafka, the platform end to end, the gateway (5-10 min)
	$(STACK) up
	$(PY) -m bench.run $(BENCH_ARGS)

fmt: ## format and autofix
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
