"""webapp.services: every write. Also home of the small helpers the other
webapp test modules import (a toy technique, ``make_exp``, ``db_counts``)."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.utils import timezone

from engine import Cancelled, ConfigBase, Summary, Technique, param, register_technique, techniques
from tests.conftest import SMOKE_ZOO
from webapp import services
from webapp.errors import ApplicationError
from webapp.models import Artifact, Candidate, Experiment, HardwareProfile, SeriesPoint
from webapp.services.hardware import profile_to_engine

S = Experiment.Status
pytestmark = pytest.mark.django_db


# --- shared helpers (imported by the other webapp test modules) ---------------

TOY = "toy-webapp-test"
#: (latency_ms, accuracy) of the toy's candidates; index 2 is dominated by index 1
TOY_POINTS = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (4.0, 0.9)]


@dataclass(frozen=True)
class ToyConfig(ConfigBase):
    n: int = param(4, help="Candidates to report", min=0, max=50)
    mode: str = param("ok", help="ok, boom (raise) or cancel (raise Cancelled)", choices=("ok", "boom", "cancel"))
    artifact: bool = param(True, help="Attach a JSON file to candidate 0")


def toy_run(config: ToyConfig, hardware, reporter) -> Summary:
    for i in range(config.n):
        lat, acc = TOY_POINTS[i % len(TOY_POINTS)]
        reporter.candidate({"name": f"toy{i}", "kernels": [3, 5, 7], "expands": [1, 4, 6]},
                           {"latency_ms": lat + 10 * (i // 4), "accuracy": acc, "latency_source": "roofline"})
        reporter.series("loss", i, 1.0 / (i + 1))
        reporter.progress((i + 1) / max(1, config.n), f"candidate {i}")
    if config.mode == "boom":
        raise RuntimeError("toy exploded on purpose")
    if config.mode == "cancel":
        raise Cancelled("cancelled by the user")
    if config.artifact and config.n:
        path = Path(reporter.workdir) / "toy0.json"
        path.write_text('{"hello": "world"}')
        reporter.artifact("json", path, caption="toy file", group="files", candidate=0)
    return Summary(message="toy done", metrics={"best_accuracy": 0.9})


@pytest.fixture
def toy():
    """A tiny registered technique; removed again after the test."""
    techniques.names()  # load the built-ins first, so they do not register after us
    tech = register_technique(Technique(name=TOY, title="Toy technique", summary="A test double.",
                                        config_cls=ToyConfig, run=toy_run))
    yield tech
    techniques._items.pop(TOY, None)


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """The users of conftest hash their passwords: use a quick hasher here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_exp(owner, hw, metrics=(), *, technique="model-zoo", status=S.SUCCEEDED, name="", archs=None,
             refresh=True, **fields) -> Experiment:
    """An experiment row with candidates, written directly (no run)."""
    tech = techniques.get(technique)
    exp = Experiment.objects.create(owner=owner, hardware=hw, technique=technique, name=name, status=status,
                                    config=tech.parse({}).to_dict(),
                                    hardware_snapshot=profile_to_engine(hw).to_dict(), **fields)
    keys: dict[str, str] = {}
    for m in metrics:
        for k, v in m.items():
            kind = "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else "text"
            if v is not None and keys.get(k) != "text":
                keys[k] = kind
    Candidate.objects.bulk_create([
        Candidate(experiment=exp, index=i, metrics=m,
                  architecture=(archs[i] if archs else {"name": f"net{i}", "kernels": [3, 5], "expands": [4, 6]}))
        for i, m in enumerate(metrics)])
    Experiment.objects.filter(pk=exp.pk).update(candidate_count=len(metrics), metric_keys=keys)
    if refresh and metrics:
        services.experiment_refresh_front(experiment_id=exp.pk)
    exp.refresh_from_db()
    return exp


def db_counts() -> tuple[int, ...]:
    return (Experiment.objects.count(), Candidate.objects.count(), HardwareProfile.objects.count(),
            SeriesPoint.objects.count(), Artifact.objects.count())


def launch_toy(owner, **config) -> Experiment:
    return services.experiment_launch(owner=owner, technique=TOY, hardware="local-cpu", config=config)


# --- launch -------------------------------------------------------------------

class TestLaunch:
    def test_unknown_technique_creates_nothing(self, profiles, user, no_queue):
        before = db_counts()
        with pytest.raises(ApplicationError) as ei:
            services.experiment_launch(owner=user, technique="no-such-thing", hardware="local-cpu")
        assert "technique" in ei.value.field_errors
        assert "model-zoo" in ei.value.field_errors["technique"]  # lists the known ones
        assert db_counts() == before

    def test_unknown_hardware(self, profiles, user, no_queue):
        before = db_counts()
        with pytest.raises(ApplicationError) as ei:
            services.experiment_launch(owner=user, technique="model-zoo", hardware="no-such-board", config=SMOKE_ZOO)
        assert set(ei.value.field_errors) == {"hardware"}
        assert ei.value.status == 400
        assert db_counts() == before

    @pytest.mark.parametrize("key,value", [
        ("train_epochs", -1), ("train_epochs", 51), ("train_epochs", "three"), ("train_epochs", 1.5),
        ("train_epochs", True), ("lr", 0.0), ("lr", "fast"), ("batch_size", 1), ("models", ["resnet18", "vgg99"]),
        ("models", []), ("models", 7), ("widths", [0.01]), ("resolutions", [16]), ("resolutions", [32, 48, 64, 96, 128, 160, 192, 224, 256]),
        ("optimizer", "rmsprop"), ("dataset", "imagenet-22k"), ("seed", -3), ("bogus_setting", 1),
        ("latency_repeats", [1, 2]),
    ])
    def test_each_bad_config_field_is_named(self, profiles, user, no_queue, key, value):
        before = db_counts()
        with pytest.raises(ApplicationError) as ei:
            services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu",
                                       config={**SMOKE_ZOO, key: value})
        assert f"config.{key}" in ei.value.field_errors, ei.value.field_errors
        assert ei.value.field_errors[f"config.{key}"]
        assert db_counts() == before

    def test_every_bad_field_is_named_at_once(self, profiles, user, no_queue):
        with pytest.raises(ApplicationError) as ei:
            services.experiment_launch(owner=user, technique="model-zoo", hardware="nowhere", name="x" * 201,
                                       config={"train_epochs": -1, "lr": "x", "models": ["nope"], "bogus": 1})
        assert set(ei.value.field_errors) == {"hardware", "name", "config.train_epochs", "config.lr",
                                              "config.models", "config.bogus"}
        assert not Experiment.objects.exists()

    def test_cross_field_check_is_named(self, profiles, user, no_queue):
        # resnet18 has no 0.5 width: nothing to run
        with pytest.raises(ApplicationError) as ei:
            services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu",
                                       config={**SMOKE_ZOO, "models": ["resnet18"], "widths": [0.5]})
        assert "config.widths" in ei.value.field_errors

    def test_config_must_be_an_object(self, profiles, user, no_queue):
        with pytest.raises(ApplicationError) as ei:
            services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=["a"])
        assert "config" in ei.value.field_errors
        assert not Experiment.objects.exists()

    def test_creates_queued_experiment_with_normalised_config(self, profiles, user, no_queue, settings,
                                                              django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            exp = services.experiment_launch(
                owner=user, technique="model-zoo", hardware=profiles["local-cpu"], name="  smoke  ",
                config={"models": "squeezenet1_1", "widths": "1.0", "resolutions": ["32"], "train_epochs": "0",
                        "latency_repeats": 2})
        exp.refresh_from_db()
        assert exp.status == S.QUEUED and exp.progress == 0 and not exp.cancel_requested
        assert exp.owner == user and exp.name == "smoke"
        spec_names = [s.name for s in techniques.get("model-zoo").config_cls.specs()]
        assert sorted(exp.config) == sorted(spec_names)  # every setting stored, defaults filled in
        assert exp.config["models"] == ["squeezenet1_1"]
        assert exp.config["widths"] == [1.0]
        assert exp.config["resolutions"] == [32]
        assert exp.config["train_epochs"] == 0
        assert exp.config["lr"] == 0.002  # a default
        assert exp.hardware_snapshot["name"] == "local-cpu"
        assert exp.hardware_snapshot["memory_bandwidth_gbs"] == profiles["local-cpu"].memory_bandwidth_gbs
        assert exp.queue == settings.CELERY_TASK_DEFAULT_QUEUE
        assert no_queue == [exp.pk]  # queued once, after the commit

    def test_snapshot_does_not_follow_later_profile_edits(self, profiles, user, staff, no_queue):
        exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="jetson-nano", config=SMOKE_ZOO)
        old = exp.hardware_snapshot["memory_bandwidth_gbs"]
        services.hardware_profile_update(profile=profiles["jetson-nano"], user=staff,
                                         data={"memory_bandwidth_gbs": old * 2})
        exp.refresh_from_db()
        assert exp.hardware_snapshot["memory_bandwidth_gbs"] == old

    def test_device_technique_goes_to_the_device_queue(self, profiles, user, no_queue):
        techniques.names()
        name = "toy-device-test"
        register_technique(Technique(name=name, title="t", summary="s", config_cls=ToyConfig, run=toy_run,
                                     wants_device=True))
        try:
            exp = services.experiment_launch(owner=user, technique=name, hardware="jetson-nano")
            assert exp.queue == "device.jetson-nano"
            assert "device.jetson-nano" in exp.message
            local = services.experiment_launch(owner=user, technique=name, hardware="local-cpu")
            assert local.queue != "device.local-cpu"
        finally:
            techniques._items.pop(name, None)


# --- execute ------------------------------------------------------------------

class TestExecute:
    def test_real_model_zoo_run_succeeds(self, profiles, user, no_queue, media_root, settings, tmp_path):
        settings.VAR_DIR = tmp_path
        exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
        done = services.experiment_execute(experiment_id=exp.pk, worker="testhost:1")
        assert done.status == S.SUCCEEDED, done.error
        assert done.progress == 1.0 and done.error == ""
        assert done.started_at and done.finished_at and done.finished_at >= done.started_at
        assert done.worker == "testhost:1" and done.attempts == 1
        assert done.candidate_count == 1 == done.candidates.count()
        cand = done.candidates.get()
        assert cand.metrics["latency_ms"] > 0 and cand.metrics["params"] > 0
        assert cand.architecture
        # without training there is no accuracy: the front falls back to latency vs params
        assert done.front_objectives == [["latency_ms", "min"], ["params", "min"]]
        assert cand.on_front
        assert done.metric_keys["latency_ms"] == "number"
        art = done.artifacts.get()
        assert art.candidate_id == cand.pk and art.kind == "json"
        assert (media_root / art.file.name).is_file() and art.size_bytes > 0
        assert done.summary["message"]
        assert list((tmp_path / "work").iterdir()) == []  # the work folder is removed

    def test_toy_run_stores_everything_and_the_front(self, toy, profiles, user, no_queue, media_root, settings,
                                                     tmp_path):
        settings.VAR_DIR = tmp_path
        exp = launch_toy(user, n=4)
        done = services.experiment_execute(experiment_id=exp.pk)
        assert done.status == S.SUCCEEDED
        assert done.message == "toy done" and done.summary["metrics"] == {"best_accuracy": 0.9}
        assert done.worker.endswith(f":{os.getpid()}")
        cands = list(done.candidates.order_by("index"))
        assert [c.metrics["latency_ms"] for c in cands] == [1.0, 2.0, 3.0, 4.0]
        assert [c.on_front for c in cands] == [True, True, False, True]
        assert done.front_objectives == [["latency_ms", "min"], ["accuracy", "max"]]
        assert done.candidate_count == 4
        assert list(done.series_points.values_list("name", "step", "value")) == [
            ("loss", 0.0, 1.0), ("loss", 1.0, 0.5), ("loss", 2.0, 1 / 3), ("loss", 3.0, 0.25)]
        art = done.artifacts.get()
        assert art.candidate.index == 0 and art.group == "files" and art.caption == "toy file"
        assert (media_root / art.file.name).read_text() == '{"hello": "world"}'
        # the reporter's work folder is cleaned up
        assert list((tmp_path / "work").iterdir()) == []

    @pytest.mark.parametrize("status", [S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED])
    def test_skips_an_experiment_that_is_not_queued(self, toy, profiles, user, no_queue, status):
        exp = launch_toy(user)
        Experiment.objects.filter(pk=exp.pk).update(status=status)
        assert services.experiment_execute(experiment_id=exp.pk) is None
        exp.refresh_from_db()
        assert exp.status == status and exp.attempts == 0 and not exp.candidates.exists()

    def test_skips_a_queued_one_with_a_cancel_request_and_a_missing_one(self, toy, profiles, user, no_queue):
        exp = launch_toy(user)
        Experiment.objects.filter(pk=exp.pk).update(cancel_requested=True)
        assert services.experiment_execute(experiment_id=exp.pk) is None
        assert Experiment.objects.get(pk=exp.pk).status == S.QUEUED
        assert services.experiment_execute(experiment_id=exp.pk + 1000) is None

    def test_technique_exception_marks_failed_and_keeps_results(self, toy, profiles, user, no_queue, media_root):
        exp = launch_toy(user, mode="boom")
        done = services.experiment_execute(experiment_id=exp.pk)
        assert done.status == S.FAILED
        assert "RuntimeError: toy exploded on purpose" in done.error
        assert "toy_run" in done.error  # the traceback, for the page
        assert done.message.startswith("RuntimeError: toy exploded")
        assert done.finished_at is not None
        assert done.candidates.count() == 4 and done.candidates.filter(on_front=True).count() == 3

    def test_monkeypatched_registry_run_failure(self, profiles, user, no_queue, monkeypatch):
        tech = techniques.get("model-zoo")

        def broken(config, hardware, reporter):
            reporter.candidate({"a": 1}, {"latency_ms": 1.0, "params": 10})
            raise ValueError("bad weights")

        monkeypatch.setitem(techniques._items, "model-zoo",
                            Technique(**{**tech.__dict__, "run": broken}))
        exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
        done = services.experiment_execute(experiment_id=exp.pk)
        assert done.status == S.FAILED and "ValueError: bad weights" in done.error
        assert done.candidates.count() == 1

    def test_cancelled_marks_cancelled(self, toy, profiles, user, no_queue):
        exp = launch_toy(user, mode="cancel", n=2)
        done = services.experiment_execute(experiment_id=exp.pk)
        assert done.status == S.CANCELLED and done.error == ""
        assert done.message == "Cancelled by the user"
        assert done.candidates.count() == 2

    def test_cancel_flag_stops_a_running_job(self, profiles, user, no_queue, monkeypatch):
        """The technique sees Cancelled at its next report once the flag is set."""
        tech = techniques.get("model-zoo")
        seen = []

        def slow(config, hardware, reporter):
            reporter.candidate({"a": 1}, {"latency_ms": 1.0, "params": 10})
            Experiment.objects.filter(status=S.RUNNING).update(cancel_requested=True)  # the user clicks cancel
            reporter._last_cancel_check = -1e9  # do not wait for the next poll
            try:
                reporter.progress(0.5, "more")
            except Cancelled:
                seen.append("cancelled")
                raise
            return Summary()

        monkeypatch.setitem(techniques._items, "model-zoo", Technique(**{**tech.__dict__, "run": slow}))
        exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
        done = services.experiment_execute(experiment_id=exp.pk)
        assert seen == ["cancelled"] and done.status == S.CANCELLED and done.candidates.count() == 1


# --- cancel / delete ------------------------------------------------------------

class TestCancel:
    def test_queued_is_cancelled_at_once(self, toy, profiles, user, no_queue):
        exp = launch_toy(user)
        out = services.experiment_cancel(experiment=exp, user=user)
        assert out.status == S.CANCELLED and out.cancel_requested and out.finished_at is not None
        # and a worker that fetches it later does nothing
        assert services.experiment_execute(experiment_id=exp.pk) is None

    def test_running_sets_the_flag(self, toy, profiles, user, no_queue, monkeypatch):
        exp = launch_toy(user)
        Experiment.objects.filter(pk=exp.pk).update(status=S.RUNNING, task_id="task-123")
        exp.refresh_from_db()
        revoked = []
        from celery import current_app

        monkeypatch.setattr(current_app.control, "revoke", lambda tid, **kw: revoked.append(tid))
        out = services.experiment_cancel(experiment=exp, user=user)
        assert out.status == S.RUNNING and out.cancel_requested
        assert revoked == ["task-123"]

    def test_non_owner_gets_403_and_nothing_changes(self, toy, profiles, user, other_user, no_queue):
        exp = launch_toy(user)
        with pytest.raises(ApplicationError) as ei:
            services.experiment_cancel(experiment=exp, user=other_user)
        assert ei.value.status == 403
        exp.refresh_from_db()
        assert exp.status == S.QUEUED and not exp.cancel_requested

    def test_staff_may_cancel(self, toy, profiles, user, staff, no_queue):
        exp = launch_toy(user)
        assert services.experiment_cancel(experiment=exp, user=staff).status == S.CANCELLED

    @pytest.mark.parametrize("status", [S.SUCCEEDED, S.FAILED, S.CANCELLED])
    def test_finished_cannot_be_cancelled(self, profiles, user, status):
        exp = make_exp(user, profiles["local-cpu"], status=status)
        with pytest.raises(ApplicationError) as ei:
            services.experiment_cancel(experiment=exp, user=user)
        assert ei.value.status == 400
        exp.refresh_from_db()
        assert exp.status == status and not exp.cancel_requested


class TestDelete:
    def test_refuses_running(self, profiles, user):
        exp = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1.0, "accuracy": 0.5}], status=S.RUNNING)
        with pytest.raises(ApplicationError):
            services.experiment_delete(experiment=exp, user=user)
        assert Experiment.objects.filter(pk=exp.pk).exists() and Candidate.objects.count() == 1

    def test_non_owner_403(self, profiles, user, other_user):
        exp = make_exp(user, profiles["local-cpu"])
        with pytest.raises(ApplicationError) as ei:
            services.experiment_delete(experiment=exp, user=other_user)
        assert ei.value.status == 403 and Experiment.objects.filter(pk=exp.pk).exists()

    def test_removes_rows_and_artifact_files(self, toy, profiles, user, staff, no_queue, media_root):
        exp = services.experiment_execute(experiment_id=launch_toy(user).pk)
        path = media_root / exp.artifacts.get().file.name
        assert path.is_file()
        services.experiment_delete(experiment=exp, user=staff)  # staff may delete anyone's
        assert not path.exists()
        assert not Experiment.objects.filter(pk=exp.pk).exists()
        assert Candidate.objects.count() == SeriesPoint.objects.count() == Artifact.objects.count() == 0


# --- orphans --------------------------------------------------------------------

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


class TestRecoverOrphans:
    # on its last allowed attempt, so a lost worker fails it (retries: tests/webapp/test_dispatch.py)
    def _running(self, user, hw, *, worker, heartbeat_age_s, attempts=3):
        exp = make_exp(user, hw, [{"latency_ms": 1.0, "accuracy": 0.5}, {"latency_ms": 2.0, "accuracy": 0.4}],
                       status=S.RUNNING, refresh=False, worker=worker, attempts=attempts,
                       heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age_s), started_at=timezone.now())
        return exp

    def test_stale_heartbeat_is_failed_with_a_reason_and_keeps_candidates(self, profiles, user, settings):
        settings.FRONTIER_MAX_ATTEMPTS = 3
        exp = self._running(user, profiles["local-cpu"], worker="elsewhere:4242", heartbeat_age_s=600)
        assert services.experiment_recover_orphans(hostname="thishost", stale_after_s=60) == [exp.pk]
        exp.refresh_from_db()
        assert exp.status == S.FAILED and "worker" in exp.error.lower() and "kept" in exp.error
        assert "3 attempts of 3" in exp.error
        assert exp.finished_at is not None and exp.message == "Worker lost (3 attempts)"
        assert [a["attempt"] for a in exp.attempt_log] == [3] and exp.attempt_log[0]["worker"] == "elsewhere:4242"
        assert exp.candidates.count() == 2
        assert list(exp.candidates.filter(on_front=True).values_list("index", flat=True)) == [0]

    def test_dead_pid_on_this_host_with_a_fresh_heartbeat(self, profiles, user, settings):
        settings.FRONTIER_MAX_ATTEMPTS = 3
        exp = self._running(user, profiles["local-cpu"], worker=f"thishost:{_dead_pid()}", heartbeat_age_s=0)
        assert services.experiment_recover_orphans(hostname="thishost", stale_after_s=60) == [exp.pk]
        assert Experiment.objects.get(pk=exp.pk).status == S.FAILED

    def test_live_ones_are_untouched(self, profiles, user):
        hw = profiles["local-cpu"]
        mine = self._running(user, hw, worker=f"thishost:{os.getpid()}", heartbeat_age_s=0)
        listed = self._running(user, hw, worker=f"thishost:{_dead_pid()}", heartbeat_age_s=0)
        other_host = self._running(user, hw, worker="elsewhere:1", heartbeat_age_s=5)
        old_done = make_exp(user, hw, status=S.SUCCEEDED, worker="elsewhere:2",
                            heartbeat_at=timezone.now() - timedelta(days=1))
        live = {int(listed.worker.rsplit(":", 1)[1])}
        assert services.experiment_recover_orphans(hostname="thishost", live_pids=live, stale_after_s=60) == []
        for e in (mine, listed, other_host):
            assert Experiment.objects.get(pk=e.pk).status == S.RUNNING
        assert Experiment.objects.get(pk=old_done.pk).status == S.SUCCEEDED

    def test_no_heartbeat_at_all_counts_as_stale(self, profiles, user):
        exp = self._running(user, profiles["local-cpu"], worker="elsewhere:9", heartbeat_age_s=0)
        Experiment.objects.filter(pk=exp.pk).update(heartbeat_at=None)
        assert services.experiment_recover_orphans() == [exp.pk]


# --- hardware -------------------------------------------------------------------

GOOD_HW = {"title": "My board", "kind": "embedded-gpu", "peak_gmacs": {"fp32": 50.0, "int8": 200.0},
           "memory_bandwidth_gbs": 25.6, "memory_capacity_mb": 4096, "cores": 4, "notes": "on my desk"}


class TestHardware:
    def test_create(self, profiles, user):
        hw = services.hardware_profile_create(owner=user, slug="my-board", data=GOOD_HW)
        hw.refresh_from_db()
        assert hw.owner == user and not hw.builtin and not hw.measurable
        assert hw.peak_gmacs == {"fp32": 50.0, "int8": 200.0} and hw.memory_bandwidth_gbs == 25.6
        assert hw.cores == 4 and hw.kind == "embedded-gpu" and hw.notes == "on my desk"
        assert profile_to_engine(hw).peak("int8") == 200.0

    @pytest.mark.parametrize("patch,field", [
        ({"memory_bandwidth_gbs": -1}, "memory_bandwidth_gbs"),
        ({"memory_bandwidth_gbs": 0}, "memory_bandwidth_gbs"),
        ({"memory_bandwidth_gbs": "fast"}, "memory_bandwidth_gbs"),
        ({"memory_capacity_mb": 1e30}, "memory_capacity_mb"),
        ({"storage_mb": 1e300}, "storage_mb"),
        ({"layer_overhead_us": -5}, "layer_overhead_us"),
        ({"peak_gmacs": {"fp64": 10}}, "peak_gmacs"),
        ({"peak_gmacs": {"fp32": -10}}, "peak_gmacs"),
        ({"peak_gmacs": {"fp32": 1e12}}, "peak_gmacs"),
        ({"peak_gmacs": {}}, "peak_gmacs"),
        ({"peak_gmacs": [1, 2]}, "peak_gmacs"),
        ({"cores": 0}, "cores"),
        ({"cores": 10 ** 9}, "cores"),
        ({"cores": 2.5}, "cores"),
        ({"cores": True}, "cores"),
        ({"kind": "quantum"}, "kind"),
        ({"title": "x" * 201}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 5}, "title"),
        ({"notes": "x" * 5001}, "notes"),
        ({"source": "x" * 5001}, "source"),
        ({"bit_flexible": "yes"}, "bit_flexible"),
        ({"measurable": True}, "measurable"),
        ({"owner": 1}, "owner"),
    ])
    def test_create_rejects_each_bad_field(self, profiles, user, patch, field):
        before = db_counts()
        with pytest.raises(ApplicationError) as ei:
            services.hardware_profile_create(owner=user, slug="bad-board", data={**GOOD_HW, **patch})
        assert field in ei.value.field_errors, ei.value.field_errors
        assert db_counts() == before

    def test_create_requires_title_and_a_new_slug(self, profiles, user):
        with pytest.raises(ApplicationError) as ei:
            services.hardware_profile_create(owner=user, slug="b", data={k: v for k, v in GOOD_HW.items()
                                                                         if k != "title"})
        assert "title" in ei.value.field_errors
        with pytest.raises(ApplicationError) as ei:
            services.hardware_profile_create(owner=user, slug="local-cpu", data=GOOD_HW)
        assert "slug" in ei.value.field_errors

    def test_update_by_owner_and_staff_only(self, profiles, user, other_user, staff):
        hw = services.hardware_profile_create(owner=user, slug="my-board", data=GOOD_HW)
        services.hardware_profile_update(profile=hw, user=user, data={"memory_bandwidth_gbs": 30})
        assert HardwareProfile.objects.get(slug="my-board").memory_bandwidth_gbs == 30
        with pytest.raises(ApplicationError) as ei:
            services.hardware_profile_update(profile=hw, user=other_user, data={"title": "mine now"})
        assert ei.value.status == 403
        services.hardware_profile_update(profile=hw, user=staff, data={"title": "Renamed"})
        hw.refresh_from_db()
        assert hw.title == "Renamed" and hw.owner == user and hw.peak_gmacs["int8"] == 200.0

    def test_bad_update_leaves_the_row_unchanged(self, profiles, user):
        hw = services.hardware_profile_create(owner=user, slug="my-board", data=GOOD_HW)
        with pytest.raises(ApplicationError) as ei:
            services.hardware_profile_update(profile=hw, user=user,
                                             data={"memory_bandwidth_gbs": -3, "title": "changed"})
        assert "memory_bandwidth_gbs" in ei.value.field_errors
        fresh = HardwareProfile.objects.get(slug="my-board")
        assert fresh.memory_bandwidth_gbs == 25.6 and fresh.title == "My board"

    def test_builtin_not_editable_by_non_staff(self, profiles, user, staff):
        hw = profiles["jetson-nano"]
        with pytest.raises(ApplicationError) as ei:
            services.hardware_profile_update(profile=hw, user=user, data={"title": "hacked"})
        assert ei.value.status == 403
        assert HardwareProfile.objects.get(slug="jetson-nano").title != "hacked"
        services.hardware_profile_update(profile=hw, user=staff, data={"notes": "checked"})
        assert HardwareProfile.objects.get(slug="jetson-nano").notes == "checked"

    def test_update_keeps_measurable(self, profiles, staff):
        hw = profiles["local-cpu"]
        assert hw.measurable
        services.hardware_profile_update(profile=hw, user=staff, data={"notes": "x"})
        assert HardwareProfile.objects.get(slug="local-cpu").measurable

    def test_delete_rules(self, profiles, user, other_user, staff):
        with pytest.raises(ApplicationError):
            services.hardware_profile_delete(profile=profiles["jetson-nano"], user=staff)
        hw = services.hardware_profile_create(owner=user, slug="my-board", data=GOOD_HW)
        with pytest.raises(ApplicationError) as ei:
            services.hardware_profile_delete(profile=hw, user=other_user)
        assert ei.value.status == 403
        exp = make_exp(user, hw)
        with pytest.raises(ApplicationError):
            services.hardware_profile_delete(profile=hw, user=user)
        exp.delete()
        services.hardware_profile_delete(profile=hw, user=user)
        assert not HardwareProfile.objects.filter(slug="my-board").exists()
        assert HardwareProfile.objects.filter(slug="jetson-nano").exists()

    def test_sync_builtin_is_idempotent_and_restores_figures(self, db):
        from engine.hardware.profile import builtin_profiles

        n = services.hardware_profiles_sync_builtin()
        names = {p.name for p in builtin_profiles()}
        assert n == len(names) and "local-cpu" in names
        assert set(HardwareProfile.objects.values_list("slug", flat=True)) == names
        HardwareProfile.objects.filter(slug="jetson-nano").update(title="edited", memory_bandwidth_gbs=1)
        assert services.hardware_profiles_sync_builtin() == n
        assert HardwareProfile.objects.count() == n
        assert HardwareProfile.objects.filter(builtin=True).count() == n
        jn = HardwareProfile.objects.get(slug="jetson-nano")
        src = next(p for p in builtin_profiles() if p.name == "jetson-nano")
        assert jn.title == src.title and jn.memory_bandwidth_gbs == src.memory_bandwidth_gbs
        assert jn.source  # every built-in cites where its figures come from


def test_admin_ensure_gives_the_password_once(db, django_user_model):
    pw = services.admin_ensure()
    assert isinstance(pw, str) and len(pw) >= 12
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert authenticate(username="admin", password=pw) == admin
    assert services.admin_ensure() is None
    assert django_user_model.objects.filter(is_superuser=True).count() == 1
