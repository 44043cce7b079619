"""Running a queued experiment through the engine, in a worker: claim it,
run the technique with a DbReporter beside a heartbeat, record how it ended,
and act on the typed outputs of a run that succeeded."""
from __future__ import annotations

import logging
import os
import tempfile
import traceback
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from engine import Cancelled, techniques
from engine.hardware.profile import HardwareProfile as EngineProfile
from engine.outputs import LatencyModelOutput, NetworkLatencyOutput, NetworkOutput, Output
from engine.reporter import clean_metrics

from ..errors import ApplicationError
from ..models import Experiment
from ..reporting import DbReporter
from .experiments import file_fields, network_fields
from .fronts import experiment_refresh_front
from .hardware import hardware_latency_predictor_attach, hardware_lookup_table_attach
from .flows import flow_advance
from .heartbeat import Heartbeat
from .networks import network_adopt, network_fields_resolve, network_latency_record

__all__ = ["experiment_execute"]

log = logging.getLogger(__name__)
S = Experiment.Status


def _resolve_paths(config_dict: dict[str, Any], technique: str) -> dict[str, Any]:
    out = dict(config_dict)
    for key in file_fields(technique):
        if out.get(key):
            out[key] = os.path.join(settings.UPLOADS_DIR, out[key])
    return network_fields_resolve(out, list(network_fields(technique)))


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
    # named by attempt, so the reconciler can remove the folder of a killed attempt (dispatch.workdirs_sweep)
    reporter = DbReporter(exp, tempfile.mkdtemp(prefix=f"exp{exp.pk}-a{exp.attempts}-", dir=workroot),
                          refresh_front=lambda: experiment_refresh_front(experiment_id=experiment_id))
    heartbeat = Heartbeat(exp.pk, max(1.0, settings.FRONTIER_HEARTBEAT_STALE_S / 6), attempt=exp.attempts)
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
            _finish(exp.pk, exp.attempts, status, error, summary, reporter)
            raise
    finally:
        heartbeat.stop.set()
    heartbeat.join(timeout=5)
    _finish(exp.pk, exp.attempts, status, error, summary, reporter)
    return Experiment.objects.get(pk=exp.pk)


def _describe(e: BaseException) -> str:
    name = type(e).__name__
    if name == "SoftTimeLimitExceeded":
        return f"Stopped: the job ran past the time limit ({settings.CELERY_TASK_SOFT_TIME_LIMIT} s)."
    tb = "".join(traceback.format_exception(e)[-12:])
    return f"{name}: {e}\n\n{tb}"[:20000]


def _finish(pk: int, attempt: int, status: str, error: str, summary: dict, reporter: DbReporter) -> None:
    if not Experiment.objects.filter(pk=pk, status=S.RUNNING, attempts=attempt).exists():
        # given up as lost (queued again, its partial results cleared): its last results are not written
        reporter.discard_workdir()
        log.warning("experiment %s: attempt %s ended after it was given up as lost; its end is not recorded",
                    pk, attempt)
        return
    try:
        try:
            reporter.flush(final=True)
        except Exception as e:  # keep the status write even if the last flush fails
            error = (error + "\n" if error else "") + f"Saving the last results failed: {e}"
            status = S.FAILED
        message = {S.SUCCEEDED: summary.get("message") or "Finished", S.CANCELLED: "Cancelled by the user",
                   S.FAILED: (error.splitlines() or ["Failed"])[0][:500]}[status]
        if status == S.SUCCEEDED:  # the outputs' files are still in the workdir
            message += _adopt_all(pk, reporter)
    finally:
        reporter.discard_workdir()
    summary = {"message": summary.get("message", ""), "metrics": clean_metrics(summary.get("metrics") or {}, nested=True)}
    # only the attempt that holds the row ends it: one given up as lost (and queued again) does not
    if not Experiment.objects.filter(pk=pk, status=S.RUNNING, attempts=attempt).update(
            status=status, error=error, summary=summary, message=message[:500], finished_at=timezone.now(),
            progress=1.0 if status == S.SUCCEEDED else F("progress")):
        log.warning("experiment %s: attempt %s ended after it was given up as lost; its end is not recorded",
                    pk, attempt)
        return
    if status == S.SUCCEEDED:
        try:
            nxt = flow_advance(experiment_id=pk)
        except ApplicationError as e:  # the next step's settings no longer hold (e.g. a profile deleted)
            nxt = None
            Experiment.objects.filter(pk=pk).update(message=(message + f" — the flow stopped: {e.message}")[:500])
        if nxt is not None:
            Experiment.objects.filter(pk=pk).update(message=(message + f" — next step: #{nxt.pk}")[:500])


def _adopt_all(pk: int, reporter: DbReporter) -> str:
    """Act on the run's typed outputs; returns what to add to its message."""
    text = "".join(_adopt(pk, out, reporter.start_index) for out in reporter.outputs)
    kept = sum(isinstance(o, NetworkOutput) for o in reporter.outputs)
    if kept:
        text += f" — {kept} network{'s' if kept != 1 else ''} saved"
    return text


def _adopt(pk: int, out: Output, start_index: int = 0) -> str:
    """Act on one typed output; returns what to add to the run's message."""
    if isinstance(out, NetworkOutput):
        try:
            network_adopt(experiment_id=pk, output=out, start_index=start_index)
            return ""
        except ApplicationError as e:
            log.warning("experiment %s: a network was not kept: %s", pk, e.message)
            return f" (a network was not kept: {e.message[:200]})"
    if isinstance(out, NetworkLatencyOutput):
        network_latency_record(experiment_id=pk, output=out)
        return ""
    if isinstance(out, LatencyModelOutput):
        try:
            return _adopt_latency_model(pk, out)
        except ApplicationError as e:
            return f" (its latency model was not adopted: {e.field_errors.get('file', e.message)[:200]})"
    return ""


def _adopt_latency_model(pk: int, out: LatencyModelOutput) -> str:
    """The lookup table and predictor a latency-model run built become its
    profile's default latency model."""
    exp = Experiment.objects.select_related("hardware").get(pk=pk)
    hardware_lookup_table_attach(profile=exp.hardware, user=None, data=out.lookup_table.read_bytes())
    hardware_latency_predictor_attach(profile=exp.hardware, data=out.predictor.read_bytes(), experiment=exp)
    return f" — now the default latency model of {exp.hardware.slug}"
