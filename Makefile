# Two commands for a newcomer: `make demo` and `make test`. Each does all of its own set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install browser lint typecheck bench faults pushes clean

# The virtual environment is rebuilt whenever the lock file or the package metadata changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/loyalty demo

# Debian's Chromium for the browser tests (tests/browser.py), installed when missing and running as root;
# silent when it is there. Playwright drives it: never `playwright install` (its browser downloads fail here).
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
		else \
			echo "NOTE: /usr/bin/chromium is missing and only root can install it: the browser tests will be skipped (CI=true fails them)"; \
		fi; }

test: install browser
	$(BIN)/python -m tests.run

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# One run: mypy_path (pyproject.toml) resolves bench's and tests' imports of loyalty to src/.
typecheck: install
	$(BIN)/mypy src bench tests

# The benchmark harness (docs/performance.md): `make bench`, or `make bench ARGS=--quick`.
bench: install
	bench/run $(ARGS)

# Fault injection (bench/faults/README.md): `make faults`, or `make faults ARGS=--quick`.
faults: install
	bench/faults/run $(ARGS)

# Wallet pushes (docs/performance.md, "Wallet pushes"): `make pushes`, or `make pushes ARGS=--quick`.
pushes: install
	bench/pushes/run $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache loyalty.db

# --- Message catalogues (see docs/i18n.md) ---------------------------------------------------------
# `make messages`: extract the msgids (babel.cfg) into the template, update the fr/de/lb catalogues
# (creating a missing one), then compile the .mo files the app loads at run time. Commit all of them.
I18N_DIR     := src/loyalty/i18n
I18N_POT     := $(I18N_DIR)/messages.pot
I18N_LOCALES := fr de lb
I18N_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: messages

messages: install
	$(BIN)/pybabel --quiet extract -F babel.cfg --no-location --sort-output --no-wrap \
		--project=loyalty --version=$(I18N_VERSION) --copyright-holder="Loyalty maintainers" -o $(I18N_POT).new .
	@# Keep the template (and its diff) unchanged when only its creation date moved.
	@if [ -f $(I18N_POT) ] && diff -q -I '^"POT-Creation-Date:' $(I18N_POT) $(I18N_POT).new >/dev/null; \
		then rm $(I18N_POT).new; else mv $(I18N_POT).new $(I18N_POT); fi
	set -e; for lang in $(I18N_LOCALES); do \
		if [ -f $(I18N_DIR)/locales/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update -i $(I18N_POT) -d $(I18N_DIR)/locales -l $$lang \
				--no-wrap --ignore-obsolete --ignore-pot-creation-date; \
		else \
			$(BIN)/pybabel init -i $(I18N_POT) -d $(I18N_DIR)/locales -l $$lang --no-wrap; \
		fi; \
	done
	$(BIN)/pybabel compile -d $(I18N_DIR)/locales --statistics
