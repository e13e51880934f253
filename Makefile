# gridbot: `make run` starts the bot, `make test` runs the suite. Both set up from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

NODE_STAMP := tests/wechaty/node_modules/.installed-stamp

.PHONY: install node run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The real Wechaty TypeScript gateway the WeChat tests talk to (pinned lock file).
$(NODE_STAMP): tests/wechaty/package.json tests/wechaty/package-lock.json
	npm ci --prefix tests/wechaty --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

run: install
	$(BIN)/gridbot run

lint: install
	$(BIN)/ruff check .

test: install node
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
