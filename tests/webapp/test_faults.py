"""Fault tests: a ``redis-server`` of the test's own on a spare port (never the
shared 6379) killed and restarted with jobs waiting, launches while it is down,
and a real Celery worker SIGKILLed mid-job, counting the jobs completed, lost and
duplicated. The database is the test PostgreSQL (a PostgreSQL restart mid-job is
in bench/faults.py, on a cluster of its own). Deselect with ``-m "not faults"``."""
from __future__ import annotations

import json
import signal
import time

import pytest

from bench.support.procs import RedisServer, start_worker, stop_group, wait_for
from tests.conftest import SMOKE_ZOO
from tests.webapp.test_dispatch import restore_broker, use_broker  # noqa: F401 (a fixture)
from tests.webapp.worker import database_url
from webapp import services
from webapp.models import Experiment
from webapp.services.dispatch import WAITING_FOR_BROKER

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
S = Experiment.Status

#: several networks, a second or two each: long enough to kill the worker mid-way
# long enough that a kill after its first candidate lands mid-job on an idle machine (4 resolutions at 3 repeats
# once finished between the first candidate and the kill)
MID_ZOO = {"models": ["squeezenet1_1"], "widths": [1.0], "resolutions": [32, 64, 96, 128, 160, 192, 224, 256],
           "train_epochs": 0, "latency_repeats": 15, "latency_warmup": 2}


@pytest.fixture
def own_redis(need_postgres, settings, restore_broker):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    server = RedisServer().start()
    use_broker(server.url, results=server.url)  # as a web server with REDIS_URL has it
    yield server
    server.close()


def worker_env(redis: RedisServer, tmp_path, **extra: str) -> dict[str, str]:
    from django.conf import settings

    return {"DATABASE_URL": database_url(), "REDIS_URL": redis.url, "FRONTIER_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "FRONTIER_VAR_DIR": str(tmp_path / "var"), "FRONTIER_RECONCILE_S": "0.5",
            "FRONTIER_HEARTBEAT_STALE_S": "6", **extra}


def tally(ids: list[int], candidates_per_run: int) -> dict[str, int]:
    """completed: succeeded; lost: not; duplicated: claimed more often than its
    lost attempts explain, or holding more than one run's candidates."""
    rows = list(Experiment.objects.filter(pk__in=ids))
    done = [e for e in rows if e.status == S.SUCCEEDED]
    dup = [e for e in rows if e.attempts > 1 + len(e.attempt_log) or e.candidates.count() > candidates_per_run]
    return {"completed": len(done), "lost": len(ids) - len(done), "duplicated": len(dup)}


def all_done(ids: list[int]) -> bool:
    return not Experiment.objects.filter(pk__in=ids, status__in=Experiment.ACTIVE).exists()


def test_broker_down_and_restarted_loses_and_duplicates_nothing(own_redis, profiles, user, api, media_root,
                                                                tmp_path):
    # 1. launches while the broker is down, in a process that has sent before (its pooled
    #    connections now dead): 201 at once, "queued: waiting for the broker"
    before = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    assert before.dispatched_at is not None
    own_redis.kill()
    down = [before.pk]
    for i in range(2):
        t0 = time.monotonic()
        r = api.post("/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu", "config": SMOKE_ZOO,
                                           "name": f"down {i}"}, format="json")
        assert r.status_code == 201, r.content
        assert r.json()["message"] == WAITING_FOR_BROKER and time.monotonic() - t0 < 5
        down.append(r.json()["id"])
    own_redis.start()
    w = start_worker(env=worker_env(own_redis, tmp_path), name="faults", log_path=tmp_path / "worker.log")
    try:
        wait_for(lambda: all_done(down), timeout=120, what="the jobs launched while the broker was down")
        # 2. jobs waiting in the broker when it restarts (nothing on disk: all forgotten)
        waiting = [services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu",
                                              config=SMOKE_ZOO, name=f"waiting {i}").pk for i in range(3)]
        assert all(Experiment.objects.get(pk=pk).dispatched_at for pk in waiting)
        import redis

        r = redis.Redis.from_url(own_redis.url)
        held = wait_for(lambda: r.llen("frontier"), timeout=30, what="messages waiting in Redis")
        r.close()
        own_redis.restart()
        wait_for(lambda: all_done(waiting), timeout=150, what="the jobs the broker forgot")
    finally:
        stop_group(w)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert held >= 1  # the restart did forget messages
    assert tally(down + waiting, candidates_per_run=1) == {"completed": 6, "lost": 0, "duplicated": 0}, log[-3000:]


def test_a_worker_killed_mid_job_is_retried_and_its_folder_removed(own_redis, profiles, user, media_root, tmp_path,
                                                                  settings):
    env = worker_env(own_redis, tmp_path, FRONTIER_MAX_ATTEMPTS="3")
    w1 = start_worker(env=env, name="first", log_path=tmp_path / "w1.log")
    try:
        exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=MID_ZOO)
        wait_for(lambda: Experiment.objects.get(pk=exp.pk).candidate_count >= 1, timeout=120,
                 what="a first candidate")
        stop_group(w1, signal.SIGKILL)  # the whole worker, pool and all: no chance to clean up
    finally:
        stop_group(w1)
    row = Experiment.objects.get(pk=exp.pk)
    assert row.status == S.RUNNING and row.attempts == 1
    workdirs = list((tmp_path / "var" / "work").glob(f"exp{exp.pk}-a1-*"))
    assert workdirs, "the killed attempt left its working folder"
    with_second = start_worker(env=env, name="second", log_path=tmp_path / "w2.log")
    try:
        wait_for(lambda: all_done([exp.pk]), timeout=150, what="the retried job")
    finally:
        stop_group(with_second)
    row = Experiment.objects.get(pk=exp.pk)
    log = (tmp_path / "w2.log").read_text(errors="replace")
    assert row.status == S.SUCCEEDED, row.error + log[-3000:]
    assert row.attempts == 2 and [a["attempt"] for a in row.attempt_log] == [1]
    # one whole run (a network per resolution): the lost attempt's candidates are not kept twice
    archs = [json.dumps(c.architecture, sort_keys=True) for c in row.candidates.all()]
    assert len(archs) == len(set(archs)) == len(MID_ZOO["resolutions"])
    assert not any(p.exists() for p in workdirs)
    assert tally([exp.pk], candidates_per_run=len(MID_ZOO["resolutions"])) == {"completed": 1, "lost": 0,
                                                                              "duplicated": 0}
