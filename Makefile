# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make run   installs into .venv and runs the app on the embedded database
#   make test  installs the test dependencies into .venv and runs every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1

.PHONY: run test bench check-study clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/ecrf serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "Browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi

# The casebook PDF's Chinese font (TrueType: ReportLab cannot embed Noto CJK's CFF outlines) and pdftoppm, which
# its test renders pages with: Debian packages, installed as chromium is.
PDF_TOOLS := /usr/bin/pdftoppm /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc

$(PDF_TOOLS):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils fonts-wqy-zenhei >/dev/null; \
	else echo "The casebook PDF tests need: sudo apt-get install poppler-utils fonts-wqy-zenhei" >&2; exit 1; fi

# The browser tests inject axe-core (pinned in package-lock.json, from the npm registry) into each page they check;
# reinstalled only when the lock file changes.
node_modules/.installed: package.json package-lock.json
	@if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
		else echo "Browser tests need npm: sudo apt-get install nodejs npm" >&2; exit 1; fi; \
	fi
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Static checks first (seconds), then every test; tests/test_lint.py runs the same checks under pytest alone.
test: $(VENV)/.installed-test node_modules/.installed | $(CHROMIUM) $(PDF_TOOLS)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench --quick --json bench-results.json

check-study: $(VENV)/.installed-run
	$(BIN)/ecrf study check forms/cd7-cart-saa

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache .hypothesis
