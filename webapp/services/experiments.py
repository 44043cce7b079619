"""Experiment writes: launch, execute (in a worker), cancel, delete, recover."""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import traceback
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from engine import Cancelled, ConfigError, techniques
from engine.hardware.profile import HardwareProfile as EngineProfile
from engine.pareto import front_2d

from ..errors import ApplicationError
from ..models import Candidate, Experiment, HardwareProfile
from ..reporting import DbReporter
from ..selectors import is_number
from .hardware import profile_to_engine

__all__ = ["experiment_launch", "experiment_execute", "experiment_cancel", "experiment_delete",
           "experiment_recover_orphans", "experiment_refresh_front", "TASK_NAME"]

log = logging.getLogger(__name__)
TASK_NAME = "frontier.run_experiment"
S = Experiment.Status


def _enqueue(experiment: Experiment) -> None:
    from celery import current_app

    result = current_app.send_task(TASK_NAME, args=[experiment.pk], queue=experiment.queue or None)
    Experiment.objects.filter(pk=experiment.pk).update(task_id=result.id or "")


def _queue_for(technique, hw: HardwareProfile, config: Any = None) -> str:
    # Jobs that must measure on the device itself (the technique always does, or
    # the user asked for it) go to that device's queue, where a worker started
    # on the device listens; everything else runs on the default queue.
    wants = technique.wants_device or bool(getattr(config, "measure_on_device", False))
    if wants and not hw.measurable:
        return hw.queue
    return settings.CELERY_TASK_DEFAULT_QUEUE


def experiment_launch(*, owner: AbstractBaseUser, technique: str, hardware: HardwareProfile | str,
                      config: dict[str, Any] | None = None, name: str = "") -> Experiment:
    """Validate and store a new experiment, then queue it once committed."""
    errors: dict[str, str] = {}
    if technique not in techniques:
        raise ApplicationError("Unknown technique.", field_errors={
            "technique": f"unknown technique {technique!r}; one of {', '.join(techniques.names())}"})
    tech = techniques.get(technique)
    if isinstance(hardware, str):
        hw = HardwareProfile.objects.filter(slug=hardware).first()
        if hw is None:
            errors["hardware"] = f"unknown hardware profile {hardware!r}"
    else:
        hw = hardware
    if not isinstance(name, str) or len(name) > 200:
        errors["name"] = "text of at most 200 characters"
    if config is not None and not isinstance(config, dict):
        errors["config"] = "must be an object of settings"
        config = None
    try:
        parsed = tech.parse(config or {})
    except ConfigError as e:
        errors.update({f"config.{k}": v for k, v in e.errors.items()})
        parsed = None
    if parsed is not None:
        errors.update({f"config.{k}": v for k, v in _webapp_checks(parsed, technique, owner).items()})
    if errors:
        raise ApplicationError("The experiment is not valid.", field_errors=errors)
    queue = _queue_for(tech, hw, parsed)
    with transaction.atomic():
        exp = Experiment.objects.create(
            owner=owner, name=name.strip(), technique=technique, config=parsed.to_dict(), hardware=hw,
            hardware_snapshot=profile_to_engine(hw).to_dict(), queue=queue,
            message="Waiting for a worker" + (f" on queue {queue}" if queue != settings.CELERY_TASK_DEFAULT_QUEUE
                                               else ""))
        transaction.on_commit(lambda: _enqueue(exp))
    return exp


def _file_fields(technique: str) -> list[str]:
    return [s.name for s in techniques.get(technique).config_cls.specs() if s.file]


def _webapp_checks(config: Any, technique: str, owner: AbstractBaseUser) -> dict[str, str]:
    """Checks only the server can make: a file named in a config must be one
    of the owner's uploads (see services.uploads)."""
    from .uploads import upload_resolve

    errors = {}
    for key in _file_fields(technique):
        value = getattr(config, key, "")
        if value and upload_resolve(owner=owner, relative=value) is None:
            errors[key] = "must name a file you uploaded (POST /api/uploads/ or the form's file field)"
    return errors


def _resolve_paths(config_dict: dict[str, Any], technique: str) -> dict[str, Any]:
    out = dict(config_dict)
    for key in _file_fields(technique):
        if out.get(key):
            out[key] = os.path.join(settings.UPLOADS_DIR, out[key])
    return out


class _Heartbeat(threading.Thread):
    """Beside the running technique: marks the experiment alive every few
    seconds (a dead worker shows as a stale heartbeat), and enforces a cancel.

    A technique notices a cancel at its next report; one that reports rarely
    (a long optimiser step on a busy machine) gets ``Cancelled`` raised in its
    thread after ``grace`` seconds, so a cancel always lands within seconds.
    """

    def __init__(self, experiment_id: int, interval: float, *, poll: float = 0.5, grace: float = 2.0):
        super().__init__(daemon=True)
        self.experiment_id, self.interval, self.poll, self.grace = experiment_id, interval, poll, grace
        self.target = threading.get_ident()
        self.stop = threading.Event()
        self.injected = False
        self.armed = False  # True only while the technique runs: never interrupt anything else
        self.lock = threading.Lock()

    def arm(self) -> None:
        with self.lock:
            self.armed = True

    def disarm(self) -> None:
        with self.lock:
            self.armed = False

    def run(self) -> None:
        from django.db import connection

        last_beat, cancel_seen, row_seen = 0.0, None, False
        try:
            while not self.stop.wait(self.poll):
                now = time.monotonic()
                if now - last_beat >= self.interval:
                    Experiment.objects.filter(pk=self.experiment_id, status=S.RUNNING).update(
                        heartbeat_at=timezone.now())
                    last_beat = now
                flag = Experiment.objects.filter(pk=self.experiment_id).values_list(
                    "cancel_requested", flat=True).first()
                # a row this thread saw vanish was deleted: cancel. One it never saw is not
                # visible to its connection yet (a test's open transaction): not a cancel.
                row_seen = row_seen or flag is not None
                if flag or (flag is None and row_seen):
                    cancel_seen = cancel_seen or now
                    if not self.injected and now - cancel_seen >= self.grace and not self.stop.is_set():
                        self._interrupt()
        except Exception:  # the main thread reports failures; a heartbeat never crashes a job
            log.exception("heartbeat failed")
        finally:
            connection.close()

    def _interrupt(self) -> None:
        import ctypes

        with self.lock:
            if not self.armed:
                return
            self.injected = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target), ctypes.py_object(Cancelled))


def experiment_execute(*, experiment_id: int, worker: str = "") -> Experiment | None:
    """Run a queued experiment to its end. Returns None when it is not queued
    (already taken, cancelled, recovered or deleted)."""
    worker = worker or f"{os.uname().nodename}:{os.getpid()}"
    now = timezone.now()
    claimed = Experiment.objects.filter(pk=experiment_id, status=S.QUEUED, cancel_requested=False).update(
        status=S.RUNNING, started_at=now, heartbeat_at=now, worker=worker, attempts=F("attempts") + 1,
        message="Starting", progress=0.0)
    if not claimed:
        log.info("experiment %s is not queued; skipping", experiment_id)
        return None
    exp = Experiment.objects.get(pk=experiment_id)
    workroot = settings.VAR_DIR / "work"
    workroot.mkdir(parents=True, exist_ok=True)
    reporter = DbReporter(exp, tempfile.mkdtemp(prefix=f"exp{exp.pk}-", dir=workroot))
    heartbeat = _Heartbeat(exp.pk, max(1.0, settings.FRONTIER_HEARTBEAT_STALE_S / 6))
    status, error, summary = S.SUCCEEDED, "", {}
    try:
        heartbeat.start()
        tech = techniques.get(exp.technique)
        config = tech.parse(_resolve_paths(exp.config, exp.technique))
        # the figures as launched, with the profile's current lookup table and predictor
        profile = EngineProfile.from_dict({**exp.hardware_snapshot,
                                           "lookup_table": exp.hardware.lookup_table,
                                           "latency_predictor": exp.hardware.latency_model,
                                           # routed to the device's own queue: this worker is the device
                                           **({"measurable": True} if exp.queue == exp.hardware.queue else {})})
        try:
            heartbeat.arm()
            result = tech.run(config, profile, reporter)
        finally:
            heartbeat.disarm()  # an injected Cancelled surfaces here at the latest, caught below
        summary = {"message": getattr(result, "message", ""), "metrics": getattr(result, "metrics", {})}
    except Cancelled:
        status = S.CANCELLED
    except BaseException as e:  # noqa: BLE001 — any failure is recorded on the experiment
        status = S.FAILED
        error = _describe(e)
        if not isinstance(e, Exception):
            _finish(exp.pk, status, error, summary, reporter)
            raise
    finally:
        heartbeat.stop.set()
    heartbeat.join(timeout=5)
    _finish(exp.pk, status, error, summary, reporter)
    return Experiment.objects.get(pk=exp.pk)


def _describe(e: BaseException) -> str:
    name = type(e).__name__
    if name == "SoftTimeLimitExceeded":
        return f"Stopped: the job ran past the time limit ({settings.CELERY_TASK_SOFT_TIME_LIMIT} s)."
    tb = "".join(traceback.format_exception(e)[-12:])
    return f"{name}: {e}\n\n{tb}"[:20000]


def _finish(pk: int, status: str, error: str, summary: dict, reporter: DbReporter) -> None:
    try:
        reporter.close()
    except Exception as e:  # keep the status write even if the last flush fails
        error = (error + "\n" if error else "") + f"Saving the last results failed: {e}"
        status = S.FAILED
    from engine.reporter import clean_metrics

    message = {S.SUCCEEDED: summary.get("message") or "Finished", S.CANCELLED: "Cancelled by the user",
               S.FAILED: (error.splitlines() or ["Failed"])[0][:500]}[status]
    summary = {"message": summary.get("message", ""), "metrics": clean_metrics(summary.get("metrics") or {})}
    if status == S.SUCCEEDED:
        try:
            message += _adopt_latency_model(pk)
        except ApplicationError as e:
            message += f" (its latency model was not adopted: {e.field_errors.get('file', e.message)[:200]})"
    Experiment.objects.filter(pk=pk).update(
        status=status, error=error, summary=summary, message=message[:500], finished_at=timezone.now(),
        progress=1.0 if status == S.SUCCEEDED else F("progress"))


#: artifacts in this group with these names become the profile's default latency model
LATENCY_MODEL_GROUP = "latency-model"


def _adopt_latency_model(pk: int) -> str:
    """A run that produced a lookup table and a predictor (the latency-model
    technique) makes them its profile's default latency model."""
    from .hardware import hardware_latency_predictor_attach, hardware_lookup_table_attach

    exp = Experiment.objects.select_related("hardware").get(pk=pk)
    arts = list(exp.artifacts.filter(group=LATENCY_MODEL_GROUP, kind="json"))
    # stored names may carry a suffix the storage added (latency-lut_ab12.json)
    lut = next((a for a in arts if a.filename.startswith("latency-lut")), None)
    pred = next((a for a in arts if a.filename.startswith("latency-predictor")), None)
    if lut is None and pred is None:
        return ""
    if lut is not None:
        with lut.file.open("rb") as fh:
            hardware_lookup_table_attach(profile=exp.hardware, user=None, data=fh.read())
    if pred is not None:
        with pred.file.open("rb") as fh:
            hardware_latency_predictor_attach(profile=exp.hardware, data=fh.read(), experiment=exp)
    return f" — now the default latency model of {exp.hardware.slug}"


def experiment_refresh_front(*, experiment_id: int) -> list[int]:
    """Compute the Pareto front (O(n log n)) on the technique's first two
    objectives that the candidates report, and store it as ``on_front``."""
    exp = Experiment.objects.get(pk=experiment_id)
    objectives = _front_objectives(exp)
    rows = list(Candidate.objects.filter(experiment_id=experiment_id).values_list("pk", "metrics"))
    front_pks: list[int] = []
    if len(objectives) == 2:
        (mx, dx), (my, dy) = objectives
        pts, pks = [], []
        for pk, m in rows:
            x, y = m.get(mx), m.get(my)
            if is_number(x) and is_number(y):
                pts.append((float(x), float(y)))
                pks.append(pk)
        front_pks = [pks[i] for i in front_2d(pts, (dx, dy))]
    elif len(objectives) == 1:
        (m, d), = objectives
        vals = [(r[1].get(m), r[0]) for r in rows if is_number(r[1].get(m))]
        if vals:
            front_pks = [(min(vals) if d == "min" else max(vals))[1]]
    with transaction.atomic():
        Candidate.objects.filter(experiment_id=experiment_id, on_front=True).exclude(pk__in=front_pks) \
            .update(on_front=False)
        Candidate.objects.filter(pk__in=front_pks).update(on_front=True)
        Experiment.objects.filter(pk=experiment_id).update(front_objectives=[list(o) for o in objectives])
    return front_pks


def _front_objectives(exp: Experiment) -> list[tuple[str, str]]:
    numeric = {k for k, v in (exp.metric_keys or {}).items() if v == "number"}
    if exp.technique not in techniques:
        return []
    objs = [(m, d) for m, d in techniques.get(exp.technique).objectives_for(numeric).items() if m in numeric]
    return objs[:2]


def _check_owner(exp: Experiment, user: AbstractBaseUser, verb: str) -> None:
    if exp.owner_id != user.pk and not user.is_staff:
        raise ApplicationError(f"Only the owner or staff can {verb} this experiment.", status=403)


def experiment_cancel(*, experiment: Experiment, user: AbstractBaseUser) -> Experiment:
    _check_owner(experiment, user, "cancel")
    with transaction.atomic():
        # A queued job is cancelled at once; a running one stops at its next report.
        n = Experiment.objects.filter(pk=experiment.pk, status=S.QUEUED).update(
            status=S.CANCELLED, cancel_requested=True, finished_at=timezone.now(), message="Cancelled before it started")
        if not n:
            n = Experiment.objects.filter(pk=experiment.pk, status=S.RUNNING).update(
                cancel_requested=True, message="Cancelling…")
        if not n:
            raise ApplicationError(f"The experiment has already {experiment.status}; nothing to cancel.")
    if experiment.task_id:
        try:
            from celery import current_app

            current_app.control.revoke(experiment.task_id)
        except Exception:  # the flag above is what stops it; revoke only saves a worker a fetch
            log.warning("revoke of %s failed", experiment.task_id, exc_info=True)
    experiment.refresh_from_db()
    return experiment


def experiment_delete(*, experiment: Experiment, user: AbstractBaseUser) -> None:
    _check_owner(experiment, user, "delete")
    if experiment.status == S.RUNNING:
        raise ApplicationError("The experiment is running; cancel it first.")
    files = [a.file for a in experiment.artifacts.all()]
    with transaction.atomic():
        experiment.delete()
    for f in files:
        f.delete(save=False)


def experiment_recover_orphans(*, hostname: str = "", live_pids: set[int] | None = None,
                               stale_after_s: int | None = None) -> list[int]:
    """Mark failed the running experiments whose worker is gone: its heartbeat
    is stale, or it ran on this host in a process that no longer exists.
    What they found so far is kept."""
    stale_after_s = stale_after_s if stale_after_s is not None else settings.FRONTIER_HEARTBEAT_STALE_S
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    dead: list[int] = []
    for exp in Experiment.objects.filter(status=S.RUNNING).only("pk", "worker", "heartbeat_at"):
        host, _, pid = exp.worker.rpartition(":")
        gone = exp.heartbeat_at is None or exp.heartbeat_at < cutoff
        if not gone and hostname and host == hostname and pid.isdigit():
            gone = int(pid) not in (live_pids or set()) and not _pid_alive(int(pid))
        if gone:
            dead.append(exp.pk)
    for pk in dead:
        reason = ("The worker running this experiment stopped without finishing it (killed, out of memory or "
                  "restarted). The results found before that are kept; launch it again to re-run it.")
        Experiment.objects.filter(pk=pk, status=S.RUNNING).update(
            status=S.FAILED, error=reason, message="Worker lost", finished_at=timezone.now())
        experiment_refresh_front(experiment_id=pk)
    return dead


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie or a recycled pid that is not a worker counts as gone
        with open(f"/proc/{pid}/status") as fh:
            return "State:\tZ" not in fh.read()
    except OSError:
        return True
