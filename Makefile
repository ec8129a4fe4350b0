# peergrid — the two README commands.  Both are idempotent.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
OUT    ?= out/demo

.PHONY: demo test venv lint services clean

# the base install includes the service extra: `make demo` leaves a peergrid that can also `serve`
$(VENV)/.stamp-base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[service]'
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install -e '.[test,dist,grid,bench,service,docs]'
	touch $@

venv: $(VENV)/.stamp-base

## make demo: create the virtualenv, install peergrid with its service extra, run the flagship study, write the report
demo: $(VENV)/.stamp-base
	$(VENV)/bin/peergrid demo --out $(OUT)
	@echo "report: $(OUT)/report.html"

## system services the tests need: PostgreSQL, Mosquitto, Chromium (apt-get once, then started)
services:
	sh scripts/services.sh

## make test: install test extras and services, run lint, the type check (mypy) and the full suite
test: $(VENV)/.stamp-test services
	$(VENV)/bin/ruff check src tests benchmarks scripts examples
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check src tests benchmarks scripts examples

clean:
	rm -rf $(VENV) out .pytest_cache
