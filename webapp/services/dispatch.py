"""The outbox and the reconciler: a queued experiment row is the durable intent
to run it, and sending its message to the broker is a retried step after it.

- ``experiment_launch`` commits the row (``dispatched_at`` null: still to send),
  then :func:`experiment_dispatch` sends it with a short timeout. A broker that is
  down leaves the row in the outbox with the message ``queued: waiting for the
  broker``; nothing fails.
- :func:`reconcile` (one pass; :func:`start_reconciler` runs it every
  ``FRONTIER_RECONCILE_S`` in a thread of every web server and every worker,
  under a database lease so two processes never pass at once):
  re-queues or fails what a dead worker left running (:mod:`.heartbeat`), sends
  what is still in the outbox, sends again what the broker lost (a queued row
  whose message is neither waiting in the broker nor held by a worker: Redis
  without persistence forgets everything on a restart), and removes the working
  folders of jobs that no longer run.
- A message sent twice runs once: ``experiment_execute`` claims the row with
  ``UPDATE … WHERE status = 'queued'``; the second delivery finds it taken.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Experiment, Lease
from .heartbeat import experiment_recover_orphans

__all__ = ["TASK_NAME", "WAITING_FOR_BROKER", "experiment_dispatch", "reconcile", "lease_acquire",
           "workdirs_sweep", "start_reconciler", "stop_reconciler", "waiting_message"]

log = logging.getLogger(__name__)
S = Experiment.Status
TASK_NAME = "frontier.run_experiment"
WAITING_FOR_BROKER = "queued: waiting for the broker"
LEASE = "reconciler"
#: a row just committed is sent by its launch; the reconciler leaves it alone this long
OUTBOX_GRACE_S = 3.0
#: a message the broker does not show is sent again after this long: seconds with
#: Redis (its queue and its unacked hash show every message), minutes with a
#: broker that hides what a worker has prefetched (the filesystem transport)
LOST_GRACE_REDIS_S = 5.0
LOST_GRACE_OTHER_S = 300.0
_WORKDIR = re.compile(r"^exp(\d+)-(?:a(\d+)-)?")


def waiting_message(queue: str) -> str:
    return "Waiting for a worker" + (f" on queue {queue}" if queue and queue != settings.CELERY_TASK_DEFAULT_QUEUE
                                     else "")


def experiment_dispatch(*, experiment_id: int) -> bool:
    """Send a queued experiment's message to the broker; record its task id.
    Returns False (and leaves the row in the outbox, saying so) when the broker
    cannot be reached within the short publish timeout."""
    from celery import current_app

    exp = Experiment.objects.filter(pk=experiment_id, status=S.QUEUED).only("pk", "queue").first()
    if exp is None:
        return False
    try:
        # ignore_result: the outcome is in the database; subscribing to a Redis result store on send
        # retries for ~20 s when Redis is away (and then breaks the app for good)
        result = current_app.send_task(TASK_NAME, args=[exp.pk], queue=exp.queue or None, ignore_result=True)
    except Exception as e:  # kombu OperationalError, redis ConnectionError, OSError …: the outbox keeps it
        log.warning("experiment %s: the broker is unreachable (%s); it stays queued and is sent later", exp.pk, e)
        Experiment.objects.filter(pk=exp.pk, status=S.QUEUED, dispatched_at__isnull=True).update(
            message=WAITING_FOR_BROKER)
        return False
    Experiment.objects.filter(pk=exp.pk).update(task_id=result.id or "", dispatched_at=timezone.now())
    Experiment.objects.filter(pk=exp.pk, status=S.QUEUED, message=WAITING_FOR_BROKER).update(
        message=waiting_message(exp.queue))
    return True


def lease_acquire(*, name: str, holder: str, ttl_s: float) -> bool:
    """Take (or renew) the named lease for ``ttl_s`` seconds; False when another
    holder has it. One atomic UPDATE, so it holds across processes and hosts."""
    now = timezone.now()
    if not Lease.objects.filter(name=name).exists():
        try:
            with transaction.atomic():
                Lease.objects.create(name=name, holder="", expires_at=now - timedelta(seconds=1))
        except IntegrityError:  # another process created it first
            pass
    return bool(Lease.objects.filter(name=name).filter(Q(expires_at__lt=now) | Q(holder=holder)).update(
        holder=holder, expires_at=now + timedelta(seconds=ttl_s)))


def _task_id_of(payload: dict) -> str:
    headers = payload.get("headers") or {}
    return str(headers.get("id") or (payload.get("properties") or {}).get("correlation_id") or "")


def _broker_task_ids(queues: set[str]) -> set[str] | None:
    """The task ids the broker holds: waiting in ``queues`` or delivered and not
    yet acknowledged. None when this broker cannot be looked into."""
    from celery import current_app

    url = str(current_app.conf.broker_url or "")
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        r = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        try:
            ids: set[str] = set()
            sep = "\x06\x16"
            for q in queues:
                for name in [q] + [f"{q}{sep}{p}" for p in range(1, 10)]:
                    for raw in r.lrange(name, 0, -1):
                        ids.add(_task_id_of(json.loads(raw)))
            for raw in r.hvals("unacked"):
                ids.add(_task_id_of(json.loads(raw)[0]))
            return ids
        finally:
            r.close()
    if url.startswith("filesystem://"):
        folder = (current_app.conf.broker_transport_options or {}).get("data_folder_in")
        if not folder or not os.path.isdir(folder):
            return None
        ids = set()
        for name in os.listdir(folder):
            try:
                ids.add(_task_id_of(json.loads(Path(folder, name).read_bytes())))
            except (OSError, ValueError):  # taken by a worker while we looked
                continue
        return ids
    return None


def _lost(candidates: list[Experiment]) -> tuple[list[int], float]:
    """Of the queued, dispatched rows, those whose message the broker does not hold."""
    queues = {c.queue or settings.CELERY_TASK_DEFAULT_QUEUE for c in candidates}
    first = _broker_task_ids(queues)
    if first is None:
        return [c.pk for c in candidates], LOST_GRACE_OTHER_S
    from celery import current_app

    grace = LOST_GRACE_REDIS_S if str(current_app.conf.broker_url).startswith(("redis", "unix")) \
        else LOST_GRACE_OTHER_S
    missing = [c for c in candidates if c.task_id not in first]
    if missing:  # a message moves from the queue to a worker's unacked set: look twice
        time.sleep(0.3)
        second = _broker_task_ids(queues) or set()
        missing = [c for c in missing if c.task_id not in second]
    return [c.pk for c in missing], grace


def reconcile(*, hostname: str = "") -> dict[str, list[int]]:
    """One pass: recover the orphans, send the outbox, re-send what the broker
    lost, sweep working folders. Returns the ids acted on, by kind."""
    hostname = hostname or os.uname().nodename
    recovered = experiment_recover_orphans(hostname=hostname)
    now = timezone.now()
    sent, resent = [], []
    outbox = Experiment.objects.filter(status=S.QUEUED, cancel_requested=False, dispatched_at__isnull=True).filter(
        Q(created_at__lt=now - timedelta(seconds=OUTBOX_GRACE_S)) | Q(attempts__gt=0))
    for pk in outbox.order_by("created_at").values_list("pk", flat=True):
        if not experiment_dispatch(experiment_id=pk):
            break  # the broker is away: the rest waits for the next pass
        sent.append(pk)
    dispatched = list(Experiment.objects.filter(status=S.QUEUED, cancel_requested=False,
                                                dispatched_at__isnull=False).only("pk", "queue", "task_id",
                                                                                  "dispatched_at"))
    if dispatched:
        try:
            missing, grace = _lost(dispatched)
        except Exception as e:  # the broker is down: nothing can be sent now anyway
            log.info("cannot look into the broker (%s); lost messages are looked for next time", e)
            missing, grace = [], 0.0
        cutoff = timezone.now() - timedelta(seconds=grace)
        by_pk = {c.pk: c for c in dispatched}
        for pk in missing:
            if by_pk[pk].dispatched_at < cutoff:
                if not experiment_dispatch(experiment_id=pk):
                    break
                log.warning("experiment %s: its message was lost by the broker; sent again", pk)
                resent.append(pk)
    swept = workdirs_sweep()
    return {"recovered": recovered, "sent": sent, "resent": resent, "swept": swept}


def workdirs_sweep() -> list[int]:
    """Remove the working folders (``var/work/exp<id>-a<attempt>-…``) of attempts
    that no longer run: killed, recovered, finished or deleted ones.

    The folders are listed before the rows are read: a folder for attempt ``a``
    exists only once a worker has claimed the row for ``a``, so a row not running
    ``a`` when read afterwards means that attempt is over (no race with a claim)."""
    root = Path(settings.VAR_DIR) / "work"
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        m = _WORKDIR.match(path.name)
        if m and path.is_dir():
            found.append((path, int(m.group(1)), int(m.group(2) or 0)))
    if not found:
        return []
    running = dict(Experiment.objects.filter(status=S.RUNNING, pk__in={pk for _, pk, _ in found}).values_list(
        "pk", "attempts"))
    removed = []
    for path, pk, attempt in found:
        if pk in running and (attempt == 0 or running[pk] == attempt):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(pk)
    return removed


_started = threading.Lock()
_thread: threading.Thread | None = None
_stop = threading.Event()
_fork_hook: list[str] = []


def start_reconciler(*, who: str) -> threading.Thread | None:
    """Run :func:`reconcile` every ``FRONTIER_RECONCILE_S`` seconds in a daemon
    thread of this process (once per process; off when the setting is 0)."""
    global _thread
    period = float(settings.FRONTIER_RECONCILE_S)
    if period <= 0:
        return None
    if who == "web" and not _fork_hook:
        # a WSGI server that loads the application before forking (gunicorn --preload):
        # threads do not survive a fork, so each forked web process starts its own
        _fork_hook.append(who)
        os.register_at_fork(after_in_child=_after_fork_in_child)
    with _started:
        if _thread is not None and _thread.is_alive():
            return _thread
        holder = f"{who}@{os.uname().nodename}:{os.getpid()}"

        _stop.clear()

        def loop() -> None:
            while not _stop.is_set():
                try:
                    close_old_connections()
                    if lease_acquire(name=LEASE, holder=holder, ttl_s=max(3 * period, 5.0)):
                        reconcile()
                except Exception:  # the database may be briefly away: try again next time
                    log.exception("reconciling experiments failed")
                finally:
                    close_old_connections()
                _stop.wait(period)
            from django.db import connection

            connection.close()

        _thread = threading.Thread(target=loop, daemon=True, name="frontier-reconciler")
        _thread.start()
        return _thread


def _after_fork_in_child() -> None:
    global _thread, _started
    had_one = _thread is not None and not _stop.is_set()  # the parent's thread, stopped by the fork
    _thread, _started = None, threading.Lock()
    if had_one:
        start_reconciler(who="web")


def stop_reconciler(timeout: float = 10.0) -> None:
    """Stop this process's reconciler thread (tests; a process that exits needs not)."""
    global _thread
    _stop.set()
    if _thread is not None:
        _thread.join(timeout)
    _thread = None
