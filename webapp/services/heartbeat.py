"""Worker liveness: the heartbeat beside a running technique (which also
enforces a cancel), and re-queueing or failing the experiments a dead worker
left running (retries up to ``FRONTIER_MAX_ATTEMPTS``)."""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from engine import Cancelled, techniques

from ..models import Experiment
from .fronts import experiment_refresh_front

__all__ = ["Heartbeat", "experiment_recover_orphans"]

log = logging.getLogger(__name__)
S = Experiment.Status


class Heartbeat(threading.Thread):
    """Beside the running technique: marks the experiment alive every few
    seconds (a dead worker shows as a stale heartbeat), and enforces a cancel.

    It beats for its own attempt only and survives a database blip (it beats
    again when the database is back). A run whose row has moved on (given up as
    lost and queued again) is stopped like a cancelled one, so a job never runs
    twice at once.

    A technique notices a cancel at its next report; one that reports rarely
    (a long optimiser step on a busy machine) gets ``Cancelled`` raised in its
    thread after ``grace`` seconds, so a cancel always lands within seconds.
    """

    def __init__(self, experiment_id: int, interval: float, *, poll: float = 0.5, grace: float = 2.0,
                 attempt: int | None = None):
        super().__init__(daemon=True)
        self.experiment_id, self.interval, self.poll, self.grace = experiment_id, interval, poll, grace
        #: the attempt this run is: it beats for that attempt only, and stops when the row moves on
        self.attempt = attempt
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
        last_beat, cancel_seen, row_seen = 0.0, None, False
        try:
            while not self.stop.wait(self.poll):
                now = time.monotonic()
                try:
                    mine = Experiment.objects.filter(pk=self.experiment_id, status=S.RUNNING)
                    if self.attempt is not None:
                        mine = mine.filter(attempts=self.attempt)
                    if now - last_beat >= self.interval:
                        mine.update(heartbeat_at=timezone.now())
                        last_beat = now
                    row = Experiment.objects.filter(pk=self.experiment_id).values_list(
                        "cancel_requested", "status", "attempts").first()
                except Exception:  # the database is briefly away: beat again when it is back
                    log.warning("heartbeat of experiment %s failed; retrying", self.experiment_id, exc_info=True)
                    connection.close()
                    continue
                # a row this thread saw vanish was deleted: cancel. One it never saw is not
                # visible to its connection yet (a test's open transaction): not a cancel.
                row_seen = row_seen or row is not None
                # a row given up as lost (queued again, maybe running another attempt now) is no
                # longer this run's: it stops rather than run twice
                superseded = row is not None and self.attempt is not None and (
                    row[1] != S.RUNNING or row[2] != self.attempt)
                if (row is not None and row[0]) or (row is None and row_seen) or superseded:
                    cancel_seen = cancel_seen or now
                    if not self.injected and now - cancel_seen >= self.grace and not self.stop.is_set():
                        self._interrupt()
        except Exception:  # the main thread reports failures; a heartbeat never crashes a job
            log.exception("heartbeat failed")
        finally:
            connection.close()

    def _interrupt(self) -> None:
        with self.lock:
            if not self.armed:
                return
            self.injected = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target), ctypes.py_object(Cancelled))


def experiment_recover_orphans(*, hostname: str = "", live_pids: set[int] | None = None,
                               stale_after_s: int | None = None) -> list[int]:
    """Re-queue or fail the running experiments whose worker is gone: its
    heartbeat is stale, or it ran on this host in a process that no longer exists.

    A job is run up to ``FRONTIER_MAX_ATTEMPTS`` times in all: below that it is
    queued again (the reconciler sends it; a technique that checkpoints resumes
    from there, one that does not starts over with its partial results cleared),
    then it fails with the reason, keeping what it found. Each lost attempt is
    recorded in ``attempt_log``."""
    stale_after_s = stale_after_s if stale_after_s is not None else settings.FRONTIER_HEARTBEAT_STALE_S
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    dead: list[Experiment] = []
    for exp in Experiment.objects.filter(status=S.RUNNING).only(
            "pk", "worker", "heartbeat_at", "attempts", "attempt_log", "started_at", "technique", "cancel_requested"):
        host, _, pid = exp.worker.rpartition(":")
        gone = exp.heartbeat_at is None or exp.heartbeat_at < cutoff
        if not gone and hostname and host == hostname and pid.isdigit():
            gone = int(pid) not in (live_pids or set()) and not _pid_alive(int(pid))
        if gone:
            dead.append(exp)
    limit = settings.FRONTIER_MAX_ATTEMPTS
    for exp in dead:
        now = timezone.now()
        entry = {"attempt": exp.attempts, "worker": exp.worker, "reason": "worker lost",
                 "started_at": exp.started_at.isoformat() if exp.started_at else None, "ended_at": now.isoformat()}
        history = list(exp.attempt_log or []) + [entry]
        # the row as this pass saw it: a worker that claimed it again meanwhile keeps it
        row = Experiment.objects.filter(pk=exp.pk, status=S.RUNNING, attempts=exp.attempts, worker=exp.worker)
        if exp.cancel_requested:
            row.update(status=S.CANCELLED, attempt_log=history, message="Cancelled (its worker was lost)",
                       finished_at=now)
        elif exp.attempts < limit:
            if row.update(status=S.QUEUED, dispatched_at=None, task_id="", worker="", heartbeat_at=None,
                          attempt_log=history,
                          message=f"Worker lost on attempt {exp.attempts} of {limit}; queued again"):
                if not _resumes(exp.technique):
                    _clear_partial_results(exp.pk)
                log.warning("experiment %s: worker %s lost on attempt %s of %s; queued again",
                            exp.pk, exp.worker, exp.attempts, limit)
            continue
        else:
            tries = f"{exp.attempts} attempt{'s' if exp.attempts != 1 else ''}"
            reason = (f"The worker running this experiment stopped without finishing it (killed, out of memory or "
                      f"restarted), {tries} of {limit} allowed (FRONTIER_MAX_ATTEMPTS). The results found before "
                      f"that are kept; launch it again to re-run it.")
            row.update(status=S.FAILED, error=reason, attempt_log=history, message=f"Worker lost ({tries})",
                       finished_at=now)
        experiment_refresh_front(experiment_id=exp.pk)
    return [e.pk for e in dead]


def _resumes(technique: str) -> bool:
    return technique in techniques and techniques.get(technique).resumes


def _clear_partial_results(pk: int) -> None:
    """A job that starts over reports everything again: drop what the lost attempt reported."""
    from ..models import Artifact, Candidate, SeriesPoint

    files = [a.file for a in Artifact.objects.filter(experiment_id=pk)]
    with transaction.atomic():
        Artifact.objects.filter(experiment_id=pk).delete()
        SeriesPoint.objects.filter(experiment_id=pk).delete()
        Candidate.objects.filter(experiment_id=pk).delete()
        Experiment.objects.filter(pk=pk).update(candidate_count=0, metric_keys={}, front_objectives=[],
                                                progress=0.0)
    for f in files:
        try:
            f.delete(save=False)
        except OSError:
            log.warning("could not remove %s", f.name, exc_info=True)


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
