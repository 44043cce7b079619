"""Worker liveness: the heartbeat beside a running technique (which also
enforces a cancel), and failing the experiments a dead worker left running."""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from engine import Cancelled

from ..models import Experiment
from .fronts import experiment_refresh_front

__all__ = ["Heartbeat", "experiment_recover_orphans"]

log = logging.getLogger(__name__)
S = Experiment.Status


class Heartbeat(threading.Thread):
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
        with self.lock:
            if not self.armed:
                return
            self.injected = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target), ctypes.py_object(Cancelled))


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
