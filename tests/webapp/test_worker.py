"""A real Celery worker process, the real Redis broker and the real PostgreSQL
database: run to success, cancel, and SIGKILL mid-job."""
from __future__ import annotations

import time

import pytest
import redis

from tests.conftest import SMOKE_ZOO
from webapp import services
from webapp.models import Experiment

from tests.webapp.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

#: many networks, each reported within a second or two, and minutes in all: long
#: enough to cancel or kill mid-way
LONG_ZOO = {"models": ["squeezenet1_1", "resnet18", "mobilenet_v2", "shufflenet_v2", "mnasnet", "efficientnet_b0"],
            "widths": [0.5, 1.0], "resolutions": [32, 64, 96, 128, 160], "train_epochs": 0, "latency_repeats": 20}


@pytest.fixture
def broker(need_redis, need_postgres, settings):
    # the worker's settings come from its environment; the test process sends through the same Redis
    settings.CELERY_TASK_ALWAYS_EAGER = False
    r = redis.Redis.from_url(need_redis)
    r.flushdb()
    from celery import current_app

    import tasks.celery  # noqa: F401
    current_app.conf.broker_url = need_redis
    current_app.conf.result_backend = need_redis
    yield r
    r.flushdb()


def _status(pk: int) -> Experiment:
    return Experiment.objects.get(pk=pk)


def test_worker_runs_a_job_to_success(broker, profiles, user, media_root, tmp_path):
    with celery_worker(log_path=tmp_path / "worker.log"):
        exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
        done = wait_for(lambda: _status(exp.pk).status not in Experiment.ACTIVE and _status(exp.pk), timeout=120,
                        what="the job to finish")
    log = (tmp_path / "worker.log").read_text()
    assert done.status == "succeeded", done.error + log[-3000:]
    assert done.candidate_count >= 1
    assert done.candidates.filter(on_front=True).exists()
    assert done.worker and done.started_at and done.finished_at
    assert "latency_ms" in done.candidates.first().metrics


def test_cancel_takes_effect_within_five_seconds(broker, profiles, user, media_root, tmp_path):
    with celery_worker(log_path=tmp_path / "worker.log"):
        exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=LONG_ZOO)
        wait_for(lambda: _status(exp.pk).status == "running" and _status(exp.pk).progress > 0, timeout=120,
                 what="the job to start")
        clicked = time.monotonic()
        services.experiment_cancel(experiment=_status(exp.pk), user=user)
        wait_for(lambda: _status(exp.pk).status == "cancelled", timeout=5, interval=0.1, what="the cancel")
        took = time.monotonic() - clicked
    assert took < 5
    assert _status(exp.pk).finished_at is not None


# A worker SIGKILLed mid-job (retried, then failed at the limit): tests/webapp/test_faults.py and
# tests/webapp/test_dispatch.py.
