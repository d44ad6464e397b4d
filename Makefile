# perp-dex-operator: every target runs inside .venv (created by `make install` with a pinned uv from PyPI).
# Caches live outside the repository under $(CACHE), keyed by version, and are rebuilt when missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
CACHE ?= $(HOME)/.cache/perpdex
UV_HOME := $(CACHE)/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
export UV_CACHE_DIR := $(CACHE)/uv-cache
export UV_PYTHON_DOWNLOADS := never
export PATH := $(HOME)/.cargo/bin:$(PATH)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

# the real control-plane binaries (envtest layout); built from the Go module proxy when KUBEBUILDER_ASSETS is unset
ASSETS = $(if $(KUBEBUILDER_ASSETS),$(KUBEBUILDER_ASSETS),$(shell hack/build-k8s-binaries.sh --print-dir))

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	@command -v cargo >/dev/null || { echo "error: cargo (Rust) is needed once to build the starknet-crypto-py wheel for paradex-py; install Rust (rustup) and re-run" >&2; exit 1; }
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	@touch $@

.PHONY: install
install: $(VENV)/.synced ## create .venv with every extra (all six venue SDKs) and the perpdex console script

.PHONY: lock
lock: | $(UV) ## re-resolve uv.lock after editing pyproject.toml
	$(UV) lock --python $(PYTHON)

.PHONY: system-deps
system-deps: ## Debian packages the tests need (PostgreSQL server, headless Chromium for the dashboard's browser tests), installed only when missing
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian's packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

.PHONY: k8s-binaries
k8s-binaries: ## build (or reuse) etcd, kube-apiserver, kubectl and helm in $(CACHE)
	@if [ -n "$${KUBEBUILDER_ASSETS:-}" ]; then echo "using KUBEBUILDER_ASSETS=$$KUBEBUILDER_ASSETS"; else hack/build-k8s-binaries.sh all; fi

.PHONY: fmt
fmt: install ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: lint
lint: install ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: test
test: install system-deps k8s-binaries lint ## everything that can run here: lint, unit, integration (real apiserver + PostgreSQL), e2e
	KUBEBUILDER_ASSETS=$(ASSETS) $(BIN)/pytest tests $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## unit tier only
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: install system-deps k8s-binaries ## integration tier (real API server, real PostgreSQL)
	KUBEBUILDER_ASSETS=$(ASSETS) $(BIN)/pytest tests/integration $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: install system-deps k8s-binaries ## e2e tier (operator + pod runner + funding service + paper bots)
	KUBEBUILDER_ASSETS=$(ASSETS) $(BIN)/pytest tests/e2e $(PYTEST_ARGS)

.PHONY: control-plane-up
control-plane-up: install k8s-binaries ## start etcd + kube-apiserver locally (prints the kubeconfig to use)
	KUBEBUILDER_ASSETS=$(ASSETS) $(BIN)/perpdex dev control-plane up

.PHONY: control-plane-down
control-plane-down: install ## stop the local control plane
	$(BIN)/perpdex dev control-plane down

.PHONY: demo
demo: install system-deps k8s-binaries ## local control plane + PostgreSQL + funding service + operator + pod runner + paper collector and grid bot
	KUBEBUILDER_ASSETS=$(ASSETS) $(BIN)/perpdex dev demo up

.PHONY: demo-down
demo-down: install ## stop everything `make demo` started
	$(BIN)/perpdex dev demo down

.PHONY: bench
bench: install system-deps k8s-binaries ## every benchmark under bench/, each against a same-run baseline
	KUBEBUILDER_ASSETS=$(ASSETS) $(BIN)/python -m bench

.PHONY: kind-e2e
kind-e2e: ## the e2e tier on kind with the real image (needs Docker; not runnable on machines without it)
	hack/kind-e2e.sh

.PHONY: clean
clean: ## remove the virtualenv and test leftovers (caches in $(CACHE) stay)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
