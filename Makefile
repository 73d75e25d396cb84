# Two commands for a fresh clone with only python3 present:
#   make run    create .venv, install the core and every plugin (editable), start the hub
#   make test   the same plus test dependencies, then ruff and every test of core and plugins
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
CONFIG ?= config.example.yaml

.PHONY: run test lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS))
	$(BIN)/pip install --quiet -e . $(addprefix -e ,$(PLUGIN_DIRS))
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]' $(foreach d,$(PLUGIN_DIRS),-e '$(d)[test]')
	touch $@

run: $(VENV)/.installed
	$(BIN)/hub run -c $(CONFIG)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# The browser tests drive Debian's Chromium (Playwright's own browser download is not
# available). Installed when absent and we are root (CI: a fresh Debian machine); otherwise
# the browser tests skip with one message (CI sets HUB_REQUIRE_BROWSER=1: there they fail).
CHROMIUM ?= /usr/bin/chromium

chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: no $(CHROMIUM) and not root: the browser tests will be skipped" \
		"(install Debian's chromium package to run them)"; fi

test: $(VENV)/.installed-test chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/bench_core.py

clean:
	rm -rf $(VENV) data
