# Putright's entry points. `make demo` runs it in one process (SQLite, an
# in-memory event bus, a local inbox: only Python needed); `make test` installs
# uv, the packages, Java, Kafka, PostgreSQL and Chromium as needed and runs
# every test; `make services` runs the four services on the local Kafka and
# PostgreSQL. DEMO_ARGS passes options, e.g. `make demo DEMO_ARGS=--simulate`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
LOCAL_ENV := .local/env

.PHONY: demo services test setup infra down lint typecheck docs bench

setup:
	@command -v uv >/dev/null || python3 -m pip install --quiet --disable-pip-version-check uv
	uv sync --frozen --quiet

infra:
	bash deploy/local/up.sh

down:
	bash deploy/local/down.sh

demo: setup
	uv run python -m putright.platform.embedded $(DEMO_ARGS)

services: setup infra
	source $(LOCAL_ENV) && bash deploy/local/run-services.sh

lint: setup
	uv run ruff check .
	uv run ruff format --check .

typecheck: setup
	uv run mypy src shared/src services/intake/src services/deadlines/src services/letters/src services/reporting/src tests

docs: setup
	uv run python -m putright.shared.events.schemas
	uv run python -m putright.platform.catalogue
	uv run python -m putright.platform.asyncapi

test: setup infra lint typecheck
	source $(LOCAL_ENV) && uv run pytest

# Figures, not tests: measures Putright and the bare Kafka/PostgreSQL it runs on, then
# rewrites docs/benchmarks.md (about 10 minutes; pass BENCH_ARGS=--quick to try it out).
bench:
	uv sync --frozen --quiet
	bash deploy/local/up.sh
	source $(LOCAL_ENV) && uv run python -m bench.run $(BENCH_ARGS)
