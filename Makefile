# Two commands set everything up: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install tools bench clean

# Apache ECharts, vendored from the npm registry at build time into the pages' static files.
ECHARTS_VERSION := 6.1.0
ECHARTS := infra/web/static/vendor/echarts.min.js

$(ECHARTS):
	rm -rf .build/echarts && mkdir -p .build/echarts $(dir $(ECHARTS))
	cd .build/echarts && npm pack --silent echarts@$(ECHARTS_VERSION) >/dev/null && \
		tar xzf echarts-$(ECHARTS_VERSION).tgz package/dist/echarts.min.js
	cp .build/echarts/package/dist/echarts.min.js $(ECHARTS)

$(STAMP): pyproject.toml constraints.txt $(ECHARTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fundtrail demo

lint: $(STAMP)
	$(BIN)/ruff check domain projections services infra tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Debian's hledger checks our journal exports, chromium runs the page tests and docker-compose
# validates docker-compose.yml (no Docker engine runs here); installed
# when missing and we may (root), otherwise those tests skip on a laptop and fail under CI.
tools:
	@for tool in hledger chromium docker-compose; do \
		command -v $$tool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$tool >/dev/null); } || \
			echo "$$tool is not installed and cannot be installed here: its tests will not pass under CI"; \
	done

test: lint tools
	$(BIN)/pytest

# The benchmark suite at full size (about a million commands); BENCH_SCALE=0.1 for a shorter run.
BENCH_SCALE ?= 1.0
BENCH_POSTGRES ?= postgresql://postgres@127.0.0.1:5432/test
bench: $(STAMP) tools
	$(BIN)/fundtrail bench --scale $(BENCH_SCALE) --postgres '$(BENCH_POSTGRES)' --output BENCHMARKS.md

clean:
	rm -rf $(VENV) .build $(ECHARTS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
