# Ping App — the verbs. `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help run up down status test compose-test lint format bench clean lock

# Settings from .env (see .env.example), for the stack and the tests alike.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' .env)
endif

PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
export PORT
export DJANGO_SETTINGS_MODULE := shared.settings

# System programs as command:debian-package (or /absolute/file:debian-package). apt-get installs
# the missing ones when we are root. The brotli module lets nginx send collectstatic's .br files.
RUN_PROGRAMS := nginx:nginx redis-server:redis-server \
	/usr/lib/nginx/modules/ngx_http_brotli_static_module.so:libnginx-mod-http-brotli-static
TEST_PROGRAMS := $(RUN_PROGRAMS) chromium:chromium docker-compose:docker-compose node:nodejs

# `make help` lists every target from the `## ` note on its line: one place says what each does.
help: ## list these targets
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## /{printf "make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: .deps-run $(VENV)/.installed ## set up, then run the whole stack on http://127.0.0.1:PORT (8000) in the foreground
	$(PY) -m deploy.stack run

up: .deps-run $(VENV)/.installed ## the same stack in the background on PORT; returns once it answers
	$(PY) -m deploy.stack up

down: $(VENV)/.installed ## stop the background stack on PORT
	$(PY) -m deploy.stack down

status: $(VENV)/.installed ## supervisor's view of the background stack on PORT
	$(PY) -m deploy.stack status

test: .deps-test $(VENV)/.installed lint ## set up, lint, then the whole test suite
	$(PY) -m pytest

# docker-compose.yml for real: stand-in images, podman, every service healthy, checks from
# outside, always `down -v` (deploy/compose-test says how; docs/operations.md why).
compose-test: $(VENV)/.installed ## (root) run docker-compose.yml for real under podman and check it
	deploy/compose-test

lint: $(VENV)/.installed ## ruff (lint and format check) and makemigrations --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m django makemigrations --check --dry-run

format: $(VENV)/.installed ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: .deps-run $(VENV)/.installed ## benchmark against minimal echo consumers; writes bench-results.json
	$(PY) -m tests.bench

clean: ## remove run directories, caches and bench results
	rm -rf .run bench-results.json .pytest_cache .ruff_cache

# The lock file: every transitive dependency pinned, with hashes (requirements/README.md).
$(VENV)/.installed: requirements/*.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

# Recompile the lock files after editing a requirements/*.in (UPGRADE=1: newest allowed versions).
# dev.txt first; the others are constrained to it, so a package has one version in every file.
LOCK = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed ## recompile the hashed lock files requirements/*.txt from requirements/*.in
	$(LOCK) requirements/dev.in -o requirements/dev.txt
	for role in web ws image; do \
		$(LOCK) requirements/$$role.in -c requirements/dev.txt -o requirements/$$role.txt || exit 1; \
	done

.deps-run:
	@$(call install_missing,$(RUN_PROGRAMS))

.deps-test:
	@$(call install_missing,$(TEST_PROGRAMS))

.PHONY: .deps-run .deps-test
define install_missing
	missing=""; \
	for pair in $(1); do \
		want="$${pair%%:*}"; \
		case "$$want" in /*) [ -e "$$want" ] ;; *) command -v "$$want" >/dev/null ;; esac || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else \
			echo "missing:$$missing — run: sudo apt-get install$$missing" >&2; exit 1; \
		fi; \
	fi
endef
