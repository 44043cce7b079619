"""Loaded before Django's settings (``-p tests.xdist_env`` in pytest.ini): under
pytest-xdist each worker process gets a Redis database of its own (15, 14, ...
from ``REDIS_URL``'s), so one worker's Celery queue, flushes and test broker
never meet another's, and its own var/ folder (working folders). pytest-django gives each worker its own PostgreSQL test
database (``test_<name>_gw0``, ...). One torch thread per process: two workers
on two cores, each with two threads, would oversubscribe them."""
from __future__ import annotations

import os
import re

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker:
    n = int(_worker.removeprefix("gw"))
    url = os.environ.get("REDIS_URL", "")
    m = re.fullmatch(r"(redis://[^/]+)/(\d+)", url)
    if m:
        db = int(m.group(2)) - n
        if db < 0:
            raise RuntimeError(f"REDIS_URL {url}: too few Redis databases below it for xdist worker {_worker}")
        os.environ["REDIS_URL"] = f"{m.group(1)}/{db}"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # and a var/ of its own: the orphan sweep removes working folders of experiments its database does not run
    import tempfile

    os.environ.setdefault("FRONTIER_VAR_DIR", tempfile.mkdtemp(prefix=f"frontier-test-var-{_worker}-"))
