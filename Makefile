# Cataloop: every target goes through `setup`, which is idempotent and fast when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools-venv
REQS := pyproject.toml layers/cataloop/requirements.txt requirements-local.txt requirements-dev.txt
STAMP := $(VENV)/.setup-stamp
TOOLS_STAMP := $(TOOLS)/.setup-stamp
SAM_CLI_VERSION := 1.170.0
# checkov pins packages that conflict with aws-sam-cli's, so it has a virtualenv of its own inside $(TOOLS).
CHECKOV := $(TOOLS)/checkov
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP := $(CHECKOV)/.setup-stamp-$(CHECKOV_VERSION)
PYTEST_ARGS ?=

.PHONY: help setup tools e2e-deps demo test lint typecheck template-check unit integration e2e bench soak build deploy clean reset

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project, local cloud and dev tools

# aws-sam-cli pins many packages, so it lives in its own virtualenv.
$(TOOLS_STAMP):
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $(TOOLS_STAMP)

$(CHECKOV_STAMP):
	@test -x $(CHECKOV)/bin/python || $(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $(CHECKOV_STAMP)

tools: $(TOOLS_STAMP) $(CHECKOV_STAMP) ## install aws-sam-cli and checkov in their own virtualenvs

# Browser tests: Debian's Chromium (never a downloaded browser) and playwright-core from the npm lockfile;
# e2e-deps also installs Debian's fonts-noto-cjk (checked on every run, so an existing stamp still gets it):
# the console is Korean, and without a CJK font Hangul renders as tofu boxes.
E2E_STAMP := tests/e2e/node_modules/.setup-stamp
$(E2E_STAMP): tests/e2e/package-lock.json
	@command -v chromium >/dev/null || test -x /usr/bin/chromium || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v node >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	@touch $(E2E_STAMP)

e2e-deps: $(E2E_STAMP) ## install Chromium and fonts-noto-cjk (Debian) and playwright-core (npm) for the browser tests
	@dpkg -s fonts-noto-cjk >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; }

demo: setup ## run the main job end to end on the local cloud
	$(VENV)/bin/cataloop demo

lint: setup ## ruff lint + format check + import contracts (pyproject.toml [tool.importlinter])
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: setup ## mypy on the shared package
	$(VENV)/bin/mypy

# checkov: a finding is fixed or skipped next to its resource (Metadata: checkov: skip, with the reason);
# --skip-download keeps it offline (no Prisma Cloud guidelines).
template-check: setup tools ## cfn-lint, sam validate --lint, sam build, checkov
	$(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/sam validate --lint --template template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/sam build --template template.yaml --build-dir .aws-sam/build --cached --parallel >/dev/null
	$(CHECKOV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

test: lint typecheck template-check e2e-deps ## lint, template checks and the whole test suite
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

unit: setup ## fast unit tests only
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

integration: setup
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

e2e: setup e2e-deps
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

bench: setup ## run the benchmarks and write bench/results/*.json
	$(PY) -m bench

soak: setup ## 500 products from 4 concurrent producers on the local cloud; writes bench/results/soak.json
	$(PY) -m bench.soak

build: tools ## sam build
	$(TOOLS)/bin/sam build --cached --parallel

deploy: build ## sam deploy to dev (ENV=prod for production)
	$(TOOLS)/bin/sam deploy --config-env $${ENV:-dev}

reset: setup ## clear the local cloud state in .cataloop/
	$(VENV)/bin/cataloop reset

clean: ## remove virtualenvs, build output and local state
	rm -rf $(VENV) $(TOOLS) .aws-sam .cataloop .pytest_cache .mypy_cache .ruff_cache tests/e2e/node_modules
