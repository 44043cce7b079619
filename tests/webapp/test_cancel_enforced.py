"""A cancel lands within seconds even when a technique does not report for a
long time: the watcher raises Cancelled in the technique's thread."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from engine import ConfigBase, MemoryReporter, Summary, Technique, param, techniques
from webapp import services
from webapp.models import Experiment


@dataclass(frozen=True)
class SilentConfig(ConfigBase):
    seconds: int = param(60, help="How long to compute without reporting", min=1, max=600)


def silent_run(config, hardware, reporter) -> Summary:
    reporter.progress(0.0, "computing without reporting")
    reporter.candidate({"k": 1}, {"latency_ms": 1.0, "accuracy": 0.5})
    end = time.monotonic() + config.seconds
    while time.monotonic() < end:
        sum(range(20000))  # pure Python work, never calling the reporter
    return Summary("finished without being cancelled")


@pytest.fixture
def silent():
    name = "silent-test"
    techniques.add(name, Technique(name=name, title="Silent", summary="", config_cls=SilentConfig, run=silent_run))
    yield name
    del techniques._items[name]


@pytest.mark.django_db(transaction=True)
def test_cancel_interrupts_a_technique_that_never_reports(silent, profiles, user, no_queue, media_root):
    exp = services.experiment_launch(owner=user, technique=silent, hardware="local-cpu", config={"seconds": 60})
    clicked: list[float] = []

    def click() -> None:
        for _ in range(100):
            if Experiment.objects.get(pk=exp.pk).status == "running":
                break
            time.sleep(0.1)
        time.sleep(0.5)
        clicked.append(time.monotonic())
        services.experiment_cancel(experiment=Experiment.objects.get(pk=exp.pk), user=user)

    t = threading.Thread(target=click)
    t.start()
    done = services.experiment_execute(experiment_id=exp.pk)
    ended = time.monotonic()
    t.join()
    assert done.status == "cancelled"
    assert ended - clicked[0] < 5
    assert done.candidate_count == 1  # what it found before the cancel is kept


def test_memory_reporter_unaffected(silent):
    # the technique itself is an ordinary one: it runs to the end without the watcher
    r = MemoryReporter()
    assert "finished" in silent_run(SilentConfig(seconds=1), None, r).message
