# gridbot: `make run` starts the bot, `make test` runs the suite. Both set up from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

NODE_STAMP := tests/wechaty/node_modules/.installed-stamp
# The web console's browser libraries (ECharts, htmx), served from our own origin.
ASSETS_STAMP := plugins/console/static/node_modules/.installed-stamp

# Time travel: the suite again with the whole process tree's clock moved (libfaketime).
# The whole suite at one instant, the `time` subset at the others (Asia/Shanghai).
TT_FULL := 2027-06-15 02:30:00
TT_SUBSET := '2028-02-29 23:59:30' '2026-12-31 23:59:50'
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider

.PHONY: install assets node faketime chromium run test test-now time-travel lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) assets

$(ASSETS_STAMP): plugins/console/static/package.json plugins/console/static/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix plugins/console/static --no-audit --no-fund --loglevel=error && \
		touch $(ASSETS_STAMP); \
	else echo "npm not found: the web console runs without its charts (install Node.js)"; fi

assets: $(ASSETS_STAMP)

# The real Wechaty TypeScript gateway the WeChat tests talk to (pinned lock file).
$(NODE_STAMP): tests/wechaty/package.json tests/wechaty/package-lock.json
	npm ci --prefix tests/wechaty --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

# Debian's faketime (libfaketime), installed when missing (root, as in CI).
faketime:
	@command -v faketime >/dev/null || { \
		(apt-get update -qq || true) && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; }
	@command -v faketime >/dev/null

# Debian's chromium for the browser tests (playwright drives it; no browser download),
# and a Chinese font, so the console's screenshots show text (installed when missing).
chromium:
	@command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q . || { \
		(apt-get update -qq || true) && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei \
			>/dev/null; }
	@command -v chromium >/dev/null

run: install
	$(BIN)/gridbot run

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test: install node faketime chromium
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(MAKE) --no-print-directory test-now
	$(MAKE) --no-print-directory time-travel

test-now: install node chromium
	$(PYTEST)

# `make time-travel AT='2027-06-15 02:30:00'` runs the whole suite at one instant
# (Asia/Shanghai); ONLY='-m time' limits it to the time-dependent subset.
time-travel: install node faketime
ifdef AT
	@bash -c 'at="$$(date -d "$(AT) +08:00" "+%F %T")"; \
		echo "== time travel: $(AT) +08:00 (host $$at) $(ONLY)"; \
		FAKETIME_DONT_RESET=1 faketime -f "@$$at" $(PYTEST) $(ONLY)'
else
	$(MAKE) --no-print-directory time-travel AT='$(TT_FULL)'
	@for at in $(TT_SUBSET); do \
		$(MAKE) --no-print-directory time-travel AT="$$at" ONLY='-m time' || exit 1; done
endif

bench: install
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
