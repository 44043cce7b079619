"""Start a real Celery worker process against the test database and Redis."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@contextmanager
def celery_worker(*, name: str = "test", log_path: Path | None = None, extra_env: dict | None = None):
    """Yield a running worker (a Popen in its own process group)."""
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url(), REDIS_URL=os.environ["REDIS_URL"], FRONTIER_MEDIA_ROOT=str(settings.MEDIA_ROOT),
               PYTHONUNBUFFERED="1", **(extra_env or {}))
    log = open(log_path or os.devnull, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks.celery", "worker", "-l", "INFO", "--concurrency", "1",
         "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        kill_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
