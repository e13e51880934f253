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
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider --durations=12

.PHONY: install assets node faketime postgresql chromium run test test-now test-pg time-travel time-travel-pg time-subsets lint bench clean

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

# Debian's postgresql for the suite's PostgreSQL run (a throw-away server each run,
# see tests/pgserver.py), installed when missing; the package's own cluster is not used.
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		(apt-get update -qq || true) && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			postgresql >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1

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

# The suites run in two lanes side by side (tests/lanes.py): they mostly wait, so two
# share two cores. Lane 1: SQLite on the host clock, then the `time` subset at each
# TT_SUBSET instant; lane 2: the whole suite on PostgreSQL at TT_FULL.
test: install node faketime postgresql chromium
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	@$(BIN)/python -m tests.lanes \
		"$(MAKE) --no-print-directory test-now time-subsets" \
		"$(MAKE) --no-print-directory time-travel-pg"

# On SQLite; the multi-process tests on one PostgreSQL database wait for test-pg's run.
test-now: install node chromium
	$(PYTEST) -m "not postgresql"

# The whole suite on PostgreSQL (a throw-away server, started and stopped here),
# less the SQLite-specific tests (marker `sqlite`); AT='…' moves the clock too.
test-pg: install node postgresql chromium
ifdef AT
	$(MAKE) --no-print-directory time-travel PG=1 AT='$(AT)' ONLY='-m "not sqlite" $(ONLY)'
else
	$(BIN)/python -m tests.pgserver -- $(PYTEST) -m "not sqlite" $(ONLY)
endif

# `make time-travel AT='2027-06-15 02:30:00'` runs the whole suite at one instant
# (Asia/Shanghai); ONLY='-m time' limits it to the time-dependent subset; PG=1 runs
# it on PostgreSQL (the server on the real clock, the suite on the moved one). With
# no AT: the whole suite on PostgreSQL at TT_FULL, then the `time` subset on SQLite
# at each TT_SUBSET instant.
time-travel: install node faketime
ifdef AT
	@bash -c 'at="$$(date -d "$(AT) +08:00" "+%F %T")"; \
		echo "== time travel: $(AT) +08:00 (host $$at) $(ONLY)$(if $(PG), on PostgreSQL)"; \
		$(if $(PG),$(BIN)/python -m tests.pgserver --) env FAKETIME_DONT_RESET=1 \
			faketime -f "@$$at" $(PYTEST) $(ONLY)'
else
	$(MAKE) --no-print-directory time-travel-pg
	$(MAKE) --no-print-directory time-subsets
endif

time-travel-pg: install node faketime postgresql
	$(MAKE) --no-print-directory time-travel PG=1 AT='$(TT_FULL)' ONLY='-m "not sqlite"'

time-subsets: install node faketime
	@for at in $(TT_SUBSET); do \
		$(MAKE) --no-print-directory time-travel AT="$$at" ONLY='-m time' || exit 1; done

bench: install
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
