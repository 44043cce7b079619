"""DbReporter: what a technique reports while it runs is stored as it goes."""
from __future__ import annotations

import pytest

from engine import Cancelled
from tests.webapp.test_services import fast_hashing, make_exp  # noqa: F401  (fixture)
from webapp import services
from webapp.models import Candidate, Experiment, SeriesPoint
from webapp.reporting import DbReporter

S = Experiment.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def running(profiles, user):
    return make_exp(user, profiles["local-cpu"], status=S.RUNNING)


def _reporter(exp, tmp_path, **kw):
    kw.setdefault("flush_interval", 3600)
    kw.setdefault("cancel_interval", 3600)
    kw.setdefault("front_interval", 3600)
    return DbReporter(exp, tmp_path / "work", refresh_front=lambda: services.experiment_refresh_front(
        experiment_id=exp.pk), **kw)


def test_candidates_and_series_are_buffered_then_flushed(running, tmp_path):
    rep = _reporter(running, tmp_path)
    rep._last_flush = 1e18  # nothing flushes on its own in this test
    assert rep.candidate({"k": [3, 5]}, {"latency_ms": 2.0, "accuracy": 0.7, "latency_source": "roofline"}) == 0
    assert rep.candidate({"k": [3]}, {"latency_ms": 1.0, "accuracy": 0.6}) == 1
    rep.series("loss", 0, 1.5)
    rep.series("loss", 1, float("nan"))  # not finite: dropped
    rep.progress(0.25, "a quarter")
    assert Candidate.objects.filter(experiment=running).count() == 0
    assert SeriesPoint.objects.filter(experiment=running).count() == 0
    rep.flush()
    running.refresh_from_db()
    cands = list(Candidate.objects.filter(experiment=running).order_by("index"))
    assert [(c.index, c.metrics["latency_ms"]) for c in cands] == [(0, 2.0), (1, 1.0)]
    assert cands[0].architecture == {"k": [3, 5]}
    assert list(SeriesPoint.objects.filter(experiment=running).values_list("name", "step", "value")) == [
        ("loss", 0.0, 1.5)]
    assert running.candidate_count == 2
    assert running.progress == 0.25 and running.message == "a quarter"
    assert running.metric_keys == {"latency_ms": "number", "accuracy": "number", "latency_source": "text"}
    assert running.heartbeat_at is not None


def test_zero_interval_writes_at_once(running, tmp_path):
    rep = _reporter(running, tmp_path, flush_interval=0)
    rep.candidate({}, {"latency_ms": 1.0})
    rep.series("x", 1, 2)
    assert Candidate.objects.filter(experiment=running).count() == 1
    assert SeriesPoint.objects.filter(experiment=running).count() == 1


def test_metric_kinds(running, tmp_path):
    rep = _reporter(running, tmp_path)
    rep.candidate({}, {"a": 1, "b": "x", "c": True, "d": 1.0, "e": float("nan")})
    rep.candidate({}, {"a": "mixed", "b": "y", "d": 2.0, "e": 3.0})
    rep.close()
    running.refresh_from_db()
    # a metric with any text value sorts as text; booleans are not numbers;
    # a NaN (stored as null) does not turn a numeric metric into text
    assert running.metric_keys == {"a": "text", "b": "text", "c": "text", "d": "number", "e": "number"}
    assert Candidate.objects.get(experiment=running, index=0).metrics["e"] is None


def test_cancel_flag_is_read(running, tmp_path):
    rep = _reporter(running, tmp_path, cancel_interval=0)
    rep.progress(0.1, "fine")
    Experiment.objects.filter(pk=running.pk).update(cancel_requested=True)
    with pytest.raises(Cancelled):
        rep.candidate({}, {"latency_ms": 1.0})
    with pytest.raises(Cancelled):  # and it stays cancelled
        rep.series("loss", 1, 1.0)


def test_cancel_flag_is_polled_not_read_on_every_call(running, tmp_path, django_assert_num_queries):
    rep = _reporter(running, tmp_path, cancel_interval=3600)
    rep.is_cancelled()
    Experiment.objects.filter(pk=running.pk).update(cancel_requested=True)
    with django_assert_num_queries(0):
        assert not rep.is_cancelled()


def test_deleted_experiment_counts_as_cancelled(running, tmp_path):
    rep = _reporter(running, tmp_path, cancel_interval=0)
    Experiment.objects.filter(pk=running.pk).delete()
    with pytest.raises(Cancelled):
        rep.progress(0.5)


def test_artifact_is_attached_to_the_candidate_index(running, tmp_path, media_root):
    rep = _reporter(running, tmp_path)
    rep.candidate({"n": 0}, {"latency_ms": 1.0})
    i = rep.candidate({"n": 1}, {"latency_ms": 2.0})
    path = rep.workdir / "one.png"
    path.write_bytes(b"\x89PNG fake")
    rep.artifact("png", path, caption="the second", group="pictures", candidate=i)
    # the artifact flushes first, so the candidate row exists to point at
    art = running.artifacts.get()
    assert art.candidate.index == 1 and art.candidate.architecture == {"n": 1}
    assert art.kind == "png" and art.group == "pictures" and art.caption == "the second"
    assert art.size_bytes == len(b"\x89PNG fake") and art.is_image
    assert (media_root / art.file.name).read_bytes() == b"\x89PNG fake"
    assert art.file.name.startswith(f"experiments/{running.pk}/")
    with pytest.raises(ValueError):
        rep.artifact("png", path, candidate=5)  # no such candidate
    with pytest.raises(ValueError):
        rep.artifact("exe", path)


def test_artifact_index_counts_from_this_run_when_resumed(profiles, user, tmp_path, media_root):
    """A second run of the same experiment numbers its candidates after the
    first ones; candidate=0 of the second run is stored index 2."""
    exp = make_exp(user, profiles["local-cpu"], [{"latency_ms": 5.0}, {"latency_ms": 6.0}], status=S.RUNNING)
    rep = _reporter(exp, tmp_path)
    i = rep.candidate({"n": "new"}, {"latency_ms": 1.0})
    assert i == 0
    path = rep.workdir / "f.json"
    path.write_text("{}")
    rep.artifact("json", path, candidate=i)
    art = exp.artifacts.get()
    assert art.candidate.index == 2 and art.candidate.architecture == {"n": "new"}


def test_front_is_refreshed_on_close(running, tmp_path):
    rep = _reporter(running, tmp_path)
    for lat, acc in [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (4.0, 0.9)]:
        rep.candidate({}, {"latency_ms": lat, "accuracy": acc})
    rep.flush()
    assert not Candidate.objects.filter(experiment=running, on_front=True).exists()  # not yet: interval
    workdir = rep.workdir
    rep.close()
    running.refresh_from_db()
    assert running.front_objectives == [["latency_ms", "min"], ["accuracy", "max"]]
    assert list(Candidate.objects.filter(experiment=running, on_front=True).order_by("index")
                .values_list("index", flat=True)) == [0, 1, 3]
    assert not workdir.exists()


def test_front_is_refreshed_while_running(running, tmp_path):
    rep = _reporter(running, tmp_path, flush_interval=0, front_interval=0)
    rep.candidate({}, {"latency_ms": 2.0, "accuracy": 0.5})
    rep.candidate({}, {"latency_ms": 1.0, "accuracy": 0.6})  # dominates the first
    flags = dict(Candidate.objects.filter(experiment=running).values_list("index", "on_front"))
    assert flags == {0: False, 1: True}
