# Two commands set everything up: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install tools clean

$(STAMP): pyproject.toml constraints.txt
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

# hledger (Debian's package) checks our journal exports; installed when missing and we may.
tools:
	@command -v hledger >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hledger >/dev/null); } || \
		echo "hledger is not installed and cannot be installed here: its export test will not pass under CI"

test: lint tools
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
