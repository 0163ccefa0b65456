# Putright's entry points. `make demo` runs it; `make test` runs every test.
# Both install what they need on a fresh machine (uv, Python packages, Java,
# Kafka, PostgreSQL) through the project's own scripts.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
LOCAL_ENV := .local/env

.PHONY: demo test setup infra down lint typecheck docs bench

setup:
	@command -v uv >/dev/null || python3 -m pip install --quiet --disable-pip-version-check uv
	uv sync --frozen --quiet

infra:
	bash deploy/local/up.sh

down:
	bash deploy/local/down.sh

demo: setup infra
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
# rewrites docs/benchmarks.md (about 15 minutes; pass BENCH_ARGS=--quick to try it out).
bench:
	uv sync --quiet
	bash deploy/local/up.sh
	source $(LOCAL_ENV) && uv run python -m bench.run $(BENCH_ARGS)
