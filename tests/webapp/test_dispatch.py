"""The outbox, the reconciler, the claim and the retries, on the real database
(and the real Redis where the broker matters; the fault tests with processes
killed mid-job are tests/webapp/test_faults.py)."""
from __future__ import annotations

import os
import socket
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from tests.conftest import SMOKE_ZOO
from tests.webapp.test_cancel_enforced import silent  # noqa: F401 (a fixture)
from tests.webapp.test_services import make_exp
from webapp import services
from webapp.models import Experiment, Lease
from webapp.services import dispatch

S = Experiment.Status


def use_broker(url: str, *, results: str | None = None) -> None:
    """Point this process's Celery app at the broker ``url`` (its connection
    pools are made anew) and, given ``results``, at that result store."""
    from celery import current_app

    from kombu import pools

    import tasks.celery  # noqa: F401
    current_app.conf.broker_url = url
    if results is not None:
        current_app.conf.result_backend = results
        current_app._backend_cache = None
        current_app._local.__dict__.pop("backend", None)
    pools.reset()  # kombu's pools are global, keyed by the connection's address
    current_app._pool = None
    current_app.amqp._producer_pool = None


@pytest.fixture
def restore_broker():
    """Put this process's broker settings back as they were after the test."""
    from celery import current_app

    import tasks.celery  # noqa: F401
    conf = current_app.conf
    saved = (conf.broker_url, conf.result_backend, dict(conf.broker_transport_options or {}))
    yield
    conf.broker_transport_options = saved[2]
    use_broker(saved[0], results=saved[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_broker(restore_broker):
    use_broker(f"redis://127.0.0.1:{closed_port()}/0")


@pytest.fixture
def live_broker(need_redis, restore_broker):
    r = redis.Redis.from_url(need_redis)
    r.flushdb()
    use_broker(need_redis)
    yield r
    r.flushdb()
    r.close()


def queued_ids(r: redis.Redis, queue: str = "frontier") -> list[str]:
    import json

    return [json.loads(raw)["headers"]["id"] for raw in r.lrange(queue, 0, -1)]


def age(pk: int, **seconds: float) -> None:
    """Make a row look older than the reconciler's grace periods."""
    past = timezone.now() - timedelta(seconds=3600)
    Experiment.objects.filter(pk=pk).update(**{k: past for k in seconds})


# --- the outbox -------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_launch_while_the_broker_is_down_answers_at_once_and_stays_in_the_outbox(dead_broker, profiles, user):
    t0 = time.monotonic()
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    took = time.monotonic() - t0
    assert took < 5, f"a launch with the broker down took {took:.1f} s"
    assert exp.status == S.QUEUED and exp.message == dispatch.WAITING_FOR_BROKER
    assert exp.dispatched_at is None and exp.task_id == ""
    row = Experiment.objects.get(pk=exp.pk)
    assert row.message == dispatch.WAITING_FOR_BROKER and row.dispatched_at is None


@pytest.mark.django_db(transaction=True)
def test_api_launch_while_the_broker_is_down_is_201_with_the_reason(dead_broker, profiles, api):
    r = api.post("/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu", "config": SMOKE_ZOO},
                 format="json")
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "queued" and r.json()["message"] == "queued: waiting for the broker"
    assert r.json()["dispatched_at"] is None


@pytest.mark.django_db(transaction=True)
def test_launch_with_the_broker_up_is_sent_once(live_broker, profiles, user):
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    assert exp.task_id and exp.dispatched_at is not None and exp.message == "Waiting for a worker"
    assert queued_ids(live_broker) == [exp.task_id]
    # the reconciler sees its message in the broker: nothing is sent again
    age(exp.pk, created_at=1, dispatched_at=1)
    out = dispatch.reconcile(hostname="thishost")
    assert out["sent"] == [] and out["resent"] == []
    assert queued_ids(live_broker) == [exp.task_id]


@pytest.mark.django_db(transaction=True)
def test_the_reconciler_sends_the_outbox_when_the_broker_is_back(dead_broker, need_redis, profiles, user):
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    assert Experiment.objects.get(pk=exp.pk).dispatched_at is None
    age(exp.pk, created_at=1)
    assert dispatch.reconcile(hostname="thishost")["sent"] == []  # still down: it waits, nothing fails
    assert Experiment.objects.get(pk=exp.pk).status == S.QUEUED
    r = redis.Redis.from_url(need_redis)
    r.flushdb()
    use_broker(need_redis)  # the broker is back
    try:
        assert dispatch.reconcile(hostname="thishost")["sent"] == [exp.pk]
        row = Experiment.objects.get(pk=exp.pk)
        assert row.dispatched_at is not None and row.message == "Waiting for a worker"
        assert queued_ids(r) == [row.task_id]
    finally:
        r.flushdb()


@pytest.mark.django_db(transaction=True)
def test_a_row_just_launched_is_left_to_its_launch(live_broker, profiles, user, no_queue):
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    assert no_queue == [exp.pk]  # the launch's own send (stubbed here) has not happened yet
    assert dispatch.reconcile(hostname="thishost")["sent"] == []
    age(exp.pk, created_at=1)  # the web process died before sending: the reconciler does it
    assert dispatch.reconcile(hostname="thishost")["sent"] == [exp.pk]


@pytest.mark.django_db(transaction=True)
def test_a_message_the_broker_lost_is_sent_again_once(live_broker, profiles, user):
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    first = exp.task_id
    live_broker.flushdb()  # Redis restarted without persistence: the message is gone
    assert dispatch.reconcile(hostname="thishost")["resent"] == []  # too recent to call lost
    age(exp.pk, created_at=1, dispatched_at=1)
    assert dispatch.reconcile(hostname="thishost")["resent"] == [exp.pk]
    row = Experiment.objects.get(pk=exp.pk)
    assert row.task_id and row.task_id != first and queued_ids(live_broker) == [row.task_id]
    age(exp.pk, dispatched_at=1)
    assert dispatch.reconcile(hostname="thishost")["resent"] == []  # present now: no duplicate
    assert len(queued_ids(live_broker)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_held_by_a_worker_is_not_lost(live_broker, profiles, user):
    """A worker that took the message and not yet claimed the row holds it in
    kombu's ``unacked`` hash: the reconciler must not send it again."""
    import json

    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    raw = live_broker.rpop("frontier")
    live_broker.hset("unacked", "tag-1", json.dumps([json.loads(raw), "", "frontier"]))
    age(exp.pk, created_at=1, dispatched_at=1)
    assert dispatch.reconcile(hostname="thishost")["resent"] == []


@pytest.mark.django_db(transaction=True)
def test_the_filesystem_broker_of_make_run_is_looked_into_too(profiles, user, tmp_path, restore_broker):
    from celery import current_app

    folder = tmp_path / "out"
    folder.mkdir()
    current_app.conf.broker_transport_options = {"data_folder_in": str(folder), "data_folder_out": str(folder),
                                                 "control_folder": str(tmp_path / "control"),
                                                 "store_processed": False}
    use_broker("filesystem://")
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    assert exp.dispatched_at is not None and len(list(folder.iterdir())) == 1
    age(exp.pk, created_at=1, dispatched_at=1)
    assert dispatch.reconcile(hostname="thishost")["resent"] == []  # its file is there
    for f in folder.iterdir():
        f.unlink()  # taken by a worker that died before claiming it
    age(exp.pk, dispatched_at=1)
    assert dispatch.reconcile(hostname="thishost")["resent"] == [exp.pk]
    assert len(list(folder.iterdir())) == 1


# --- the claim -------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_job_delivered_twice_runs_once(profiles, user, no_queue, media_root):
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    results, barrier = [], threading.Barrier(2)

    def deliver(name: str) -> None:
        from django.db import connection

        try:
            barrier.wait(timeout=10)
            results.append(services.experiment_execute(experiment_id=exp.pk, worker=f"{name}:1"))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ran = [r for r in results if r is not None]
    assert len(results) == 2 and len(ran) == 1, results
    row = Experiment.objects.get(pk=exp.pk)
    assert row.status == S.SUCCEEDED and row.attempts == 1
    assert row.candidates.count() == 1  # one run's candidates, not two
    assert services.experiment_execute(experiment_id=exp.pk) is None  # a late third delivery too


# --- the lease -------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_one_reconciler_at_a_time():
    assert dispatch.lease_acquire(name="reconciler", holder="web@a:1", ttl_s=30)
    assert not dispatch.lease_acquire(name="reconciler", holder="worker@b:2", ttl_s=30)
    assert dispatch.lease_acquire(name="reconciler", holder="web@a:1", ttl_s=30)  # the holder renews
    Lease.objects.filter(name="reconciler").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert dispatch.lease_acquire(name="reconciler", holder="worker@b:2", ttl_s=30)  # a dead holder's lapses
    assert Lease.objects.get(name="reconciler").holder == "worker@b:2"


@pytest.mark.django_db(transaction=True)
def test_the_lease_is_taken_by_exactly_one_of_many_at_once():
    got, barrier = [], threading.Barrier(4)

    def take(i: int) -> None:
        from django.db import connection

        try:
            barrier.wait(timeout=10)
            got.append(dispatch.lease_acquire(name="race", holder=f"p{i}", ttl_s=30))
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(got) == [False, False, False, True]


# --- retries -------------------------------------------------------------------

def _lost_running(user, hw, *, technique="model-zoo", attempts=1, **fields):
    return make_exp(user, hw, [{"latency_ms": 1.0, "accuracy": 0.5}], technique=technique, status=S.RUNNING,
                    worker="gone:4242", attempts=attempts, task_id="old", dispatched_at=timezone.now(),
                    started_at=timezone.now(), heartbeat_at=timezone.now() - timedelta(seconds=600), **fields)


@pytest.mark.django_db
def test_a_lost_worker_queues_the_job_again_below_the_limit(profiles, user, settings):
    settings.FRONTIER_MAX_ATTEMPTS = 3
    exp = _lost_running(user, profiles["local-cpu"])
    assert services.experiment_recover_orphans(hostname="thishost", stale_after_s=60) == [exp.pk]
    row = Experiment.objects.get(pk=exp.pk)
    assert row.status == S.QUEUED and row.dispatched_at is None and row.task_id == "" and row.worker == ""
    assert row.message == "Worker lost on attempt 1 of 3; queued again"
    assert [(a["attempt"], a["worker"], a["reason"]) for a in row.attempt_log] == [(1, "gone:4242", "worker lost")]
    # model-zoo starts over: the lost attempt's partial results are cleared, not doubled
    assert row.candidates.count() == 0 and row.candidate_count == 0


@pytest.mark.django_db
def test_a_technique_that_resumes_keeps_what_it_found(profiles, user, settings):
    from engine import techniques

    assert techniques.get("amc").resumes and not techniques.get("model-zoo").resumes
    settings.FRONTIER_MAX_ATTEMPTS = 3
    exp = _lost_running(user, profiles["local-cpu"], technique="amc")
    services.experiment_recover_orphans(hostname="thishost", stale_after_s=60)
    row = Experiment.objects.get(pk=exp.pk)
    assert row.status == S.QUEUED and row.candidate_count == 1 and row.candidates.count() == 1


@pytest.mark.django_db
def test_the_last_attempt_fails_with_the_reason(profiles, user, settings):
    settings.FRONTIER_MAX_ATTEMPTS = 2
    exp = _lost_running(user, profiles["local-cpu"], attempts=2,
                        attempt_log=[{"attempt": 1, "worker": "w:1", "reason": "worker lost"}])
    services.experiment_recover_orphans(hostname="thishost", stale_after_s=60)
    row = Experiment.objects.get(pk=exp.pk)
    assert row.status == S.FAILED and "2 attempts of 2" in row.error and row.finished_at is not None
    assert [a["attempt"] for a in row.attempt_log] == [1, 2]
    assert row.candidates.count() == 1  # what the last attempt found is kept


@pytest.mark.django_db
def test_a_cancelled_job_whose_worker_died_is_not_retried(profiles, user, settings):
    settings.FRONTIER_MAX_ATTEMPTS = 3
    exp = _lost_running(user, profiles["local-cpu"], cancel_requested=True)
    services.experiment_recover_orphans(hostname="thishost", stale_after_s=60)
    assert Experiment.objects.get(pk=exp.pk).status == S.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_a_retried_job_is_sent_by_the_next_pass_and_runs_again(live_broker, profiles, user, settings):
    settings.FRONTIER_MAX_ATTEMPTS = 3
    exp = _lost_running(user, profiles["local-cpu"])
    out = dispatch.reconcile(hostname="thishost")
    assert out["recovered"] == [exp.pk] and out["sent"] == [exp.pk]
    row = Experiment.objects.get(pk=exp.pk)
    assert queued_ids(live_broker) == [row.task_id]


@pytest.mark.django_db
def test_settings_bound_max_attempts():
    import subprocess
    import sys

    env = dict(os.environ, FRONTIER_MAX_ATTEMPTS="0")
    p = subprocess.run([sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
                        "'webapp.settings'; django.setup()"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "FRONTIER_MAX_ATTEMPTS must be 1..20" in p.stderr


# --- working folders -------------------------------------------------------------

@pytest.mark.django_db
def test_the_working_folders_of_killed_attempts_are_removed(profiles, user, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    work = tmp_path / "work"
    hw = profiles["local-cpu"]
    live = make_exp(user, hw, status=S.RUNNING, attempts=2)
    dead = make_exp(user, hw, status=S.FAILED, attempts=1)
    folders = {"live": work / f"exp{live.pk}-a2-x", "earlier": work / f"exp{live.pk}-a1-x",
               "dead": work / f"exp{dead.pk}-a1-x", "deleted": work / "exp999999-a1-x",
               "old-style": work / f"exp{live.pk}-x", "other": work / "notes"}
    for f in folders.values():
        (f / "sub").mkdir(parents=True)
        (f / "sub" / "file.bin").write_bytes(b"x")
    assert sorted(dispatch.workdirs_sweep()) == sorted([live.pk, dead.pk, 999999])
    assert sorted(n for n, f in folders.items() if f.exists()) == ["live", "old-style", "other"]


# --- the page ---------------------------------------------------------------------

@pytest.mark.django_db
def test_the_page_shows_the_attempts(client, profiles, user, settings):
    settings.FRONTIER_MAX_ATTEMPTS = 3
    exp = make_exp(user, profiles["local-cpu"], status=S.RUNNING, attempts=2,
                   attempt_log=[{"attempt": 1, "worker": "w1@host:77", "reason": "worker lost"}])
    client.force_login(user)
    html = client.get(f"/experiments/{exp.pk}/").content.decode()
    assert "Attempt 2 of 3" in html and "attempt 1: worker lost" in html and "w1@host:77" in html
    assert client.get(f"/api/experiments/{exp.pk}/").json()["attempts"] == 2


# --- where the reconciler runs ----------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_reconciler_thread_recovers_a_job_with_no_worker_anywhere(profiles, user, settings):
    """As in a web server with no worker left: its own thread re-queues the orphan."""
    settings.FRONTIER_RECONCILE_S = 0.2
    settings.FRONTIER_MAX_ATTEMPTS = 2
    exp = _lost_running(user, profiles["local-cpu"])
    thread = dispatch.start_reconciler(who="web-test")
    try:
        assert thread is not None and thread.is_alive()
        deadline = time.monotonic() + 20
        while Experiment.objects.get(pk=exp.pk).status == S.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        dispatch.stop_reconciler()
    assert Experiment.objects.get(pk=exp.pk).status == S.QUEUED
    assert Lease.objects.get(name="reconciler").holder.startswith("web-test@")


def test_the_web_server_starts_a_reconciler(monkeypatch):
    import importlib
    import sys

    import webapp.services

    started = []
    monkeypatch.setattr(webapp.services, "start_reconciler", lambda **kw: started.append(kw))
    # what a WSGI server does when it loads the application (patched first: no real thread here)
    if "webapp.wsgi" in sys.modules:
        importlib.reload(sys.modules["webapp.wsgi"])
    else:
        importlib.import_module("webapp.wsgi")
    assert started == [{"who": "web"}]


def test_no_reconciler_when_switched_off(settings):
    settings.FRONTIER_RECONCILE_S = 0
    assert dispatch.start_reconciler(who="web") is None


# --- a run given up as lost stops ------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_run_given_up_as_lost_stops_instead_of_running_twice(silent, profiles, user, no_queue, media_root,
                                                               settings):
    """Its heartbeat was late (a database blip), the reconciler queued it again:
    the old run notices within seconds, stops, and records nothing over the row."""
    settings.FRONTIER_MAX_ATTEMPTS = 3
    exp = services.experiment_launch(owner=user, technique=silent, hardware="local-cpu", config={"seconds": 60})
    gave_up: list[float] = []

    def give_up() -> None:
        from django.db import connection

        try:
            for _ in range(200):
                if Experiment.objects.get(pk=exp.pk).status == S.RUNNING:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            assert services.experiment_recover_orphans(hostname="elsewhere", stale_after_s=0) == [exp.pk]
            gave_up.append(time.monotonic())
        finally:
            connection.close()

    t = threading.Thread(target=give_up)
    t.start()
    services.experiment_execute(experiment_id=exp.pk)
    ended = time.monotonic()
    t.join()
    assert gave_up and ended - gave_up[0] < 6
    row = Experiment.objects.get(pk=exp.pk)
    assert row.status == S.QUEUED and row.attempts == 1 and len(row.attempt_log) == 1  # waits for attempt 2
    assert row.candidates.count() == 0  # cleared for the re-run, and the old run's last flush not written
