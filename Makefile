# `make run` and `make test` are the whole set-up: they create .venv when it is missing and
# reinstall requirements.txt whenever it changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench clean

$(VENV)/installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(VENV)/installed
	$(PY) main.py

# The admin UI's browser tests need Chromium (Debian's package; .ci/run installs it): without one
# they are skipped, and this says so before and pytest's summary after.
CHROMIUM := $(or $(HERALD_CHROMIUM),$(shell command -v chromium || command -v chromium-browser))

test: $(VENV)/installed
	@test -n "$(CHROMIUM)" || echo "make test: no Chromium found (apt-get install chromium): the admin UI's browser tests will be SKIPPED"
	$(PY) -m pytest

bench: $(VENV)/installed
	$(PY) bench/dispatch.py
	$(PY) bench/crash.py
	$(PY) bench/api.py
	$(PY) bench/subscriptions.py
	$(PY) bench/chatbot.py
	$(PY) bench/crm.py
	$(PY) bench/crm_history.py
	$(PY) bench/telephony.py
	$(PY) bench/admin.py

clean:
	rm -rf $(VENV) .pytest_cache
