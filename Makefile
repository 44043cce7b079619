# Frontier: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000

.PHONY: setup datasets migrate run test test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Fashion-MNIST (the NAS techniques' dataset) from Debian's dataset-fashion-mnist package,
# installed with apt-get when running as root; elsewhere (or if apt fails) the engine
# falls back to mnist-5k and says so on the page.
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
APT_LOG := /tmp/frontier-apt-datasets.log

datasets:
	@if [ ! -f $(FASHION_MNIST) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing dataset-fashion-mnist (apt-get)"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dataset-fashion-mnist \
	    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	         dataset-fashion-mnist; }; } >$(APT_LOG) 2>&1 \
	  || echo "could not install dataset-fashion-mnist (see $(APT_LOG)): the engine uses mnist-5k instead"; \
	fi

migrate: setup
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py frontier_setup

run: migrate datasets
	PORT=$(PORT) $(PY) manage.py serve

# The test services: Redis and PostgreSQL on this machine (override to use others).
# TEST_WORKERS: pytest-xdist processes (auto: one per core, at most 4; each takes the
# Redis database below the previous one's, 15, 14, ..., and its own test database).
TEST_WORKERS ?= auto
test: export REDIS_URL ?= redis://127.0.0.1:6379/15
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
test: setup datasets
	$(PY) -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4

test-fast: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4 -m "not e2e and not worker"

bench: setup
	for b in bench/*.py; do $(PY) $$b --quick | tail -1; done

clean:
	rm -rf var/work var/broker
