# Frontier: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000

.PHONY: setup migrate run test test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

migrate: setup
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py frontier_setup

run: migrate
	PORT=$(PORT) $(PY) manage.py serve

# The test services: Redis and PostgreSQL on this machine (override to use others).
test: export REDIS_URL ?= redis://127.0.0.1:6379/15
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not e2e and not worker"

bench: setup
	for b in bench/*.py; do $(PY) $$b --quick | tail -1; done

clean:
	rm -rf var/work var/broker
