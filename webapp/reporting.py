"""DbReporter: the engine's reporter that stores what a technique reports.

Candidates and series points are buffered for at most ``flush_interval``
seconds and written in short transactions, so the web server and the worker
can share SQLite; the cancel flag is read at most twice a second. The
Pareto front is refreshed through the ``refresh_front`` callable the
execution service passes in (reporting imports no service). Typed outputs are
kept in ``outputs`` for the execution service to act on when the run succeeds.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from engine.outputs import Output
from engine.reporter import Reporter

from .models import Artifact, Candidate, Experiment, SeriesPoint

__all__ = ["DbReporter"]


class DbReporter(Reporter):
    def __init__(self, experiment: Experiment, workdir: str | Path, *, refresh_front: Callable[[], Any],
                 flush_interval: float = 0.5, cancel_interval: float = 0.5, front_interval: float = 3.0):
        super().__init__(workdir)
        self.experiment_id = experiment.pk
        self.refresh_front = refresh_front
        self.outputs: list[Output] = []
        self.flush_interval = flush_interval
        self.cancel_interval = cancel_interval
        self.front_interval = front_interval
        self._next_index = experiment.candidate_count
        self._start_index = experiment.candidate_count
        #: candidates this run reports are numbered from here (a re-run appends)
        self.start_index = experiment.candidate_count
        self._candidates: list[Candidate] = []
        self._points: list[SeriesPoint] = []
        self._metric_keys: dict[str, str] = dict(experiment.metric_keys or {})
        self._progress: tuple[float, str] | None = None
        self._last_flush = 0.0
        self._last_cancel_check = 0.0
        self._cancelled = False
        self._last_front = time.monotonic()
        self._front_dirty = False
        self._index_to_pk: dict[int, int] = {}

    # -- cancel -------------------------------------------------------------
    def is_cancelled(self) -> bool:
        if self._cancelled:
            return True
        now = time.monotonic()
        if now - self._last_cancel_check >= self.cancel_interval:
            self._last_cancel_check = now
            row = Experiment.objects.filter(pk=self.experiment_id).values_list("cancel_requested", flat=True).first()
            self._cancelled = row is None or bool(row)
        return self._cancelled

    # -- hooks ---------------------------------------------------------------
    def _on_progress(self, fraction: float, message: str) -> None:
        self._progress = (fraction, message)
        self._maybe_flush()

    def _on_candidate(self, architecture: dict, metrics: dict) -> None:
        self._candidates.append(Candidate(experiment_id=self.experiment_id, index=self._next_index,
                                          architecture=architecture, metrics=metrics))
        self._next_index += 1
        for k, v in metrics.items():
            if v is None:  # a NaN or inf cleaned to null says nothing about the metric's kind
                continue
            kind = "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else "text"
            if self._metric_keys.get(k) != "text":
                self._metric_keys[k] = kind if k not in self._metric_keys or kind == "text" else self._metric_keys[k]
        self._front_dirty = True
        self._maybe_flush()

    def _on_series(self, name: str, step: float, value: float) -> None:
        self._points.append(SeriesPoint(experiment_id=self.experiment_id, name=name[:100], step=step, value=value))
        self._maybe_flush()

    def _on_artifact(self, kind: str, path: Path, caption: str, group: str, candidate: int | None) -> None:
        self.flush()
        cand_pk = None
        if candidate is not None:
            cand_pk = Candidate.objects.filter(experiment_id=self.experiment_id, index=candidate + self._start_index) \
                .values_list("pk", flat=True).first()
        art = Artifact(experiment_id=self.experiment_id, candidate_id=cand_pk, kind=kind, caption=caption,
                       group=group, size_bytes=path.stat().st_size)
        with open(path, "rb") as fh:
            art.file.save(path.name, File(fh), save=False)
        art.save()

    def _on_output(self, obj: Output) -> None:
        self.outputs.append(obj)

    # -- writing ---------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_interval or len(self._candidates) >= 1000:
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        self._last_flush = time.monotonic()
        cands, points, prog = self._candidates, self._points, self._progress
        self._candidates, self._points, self._progress = [], [], None
        updates: dict = {"heartbeat_at": timezone.now()}
        if prog is not None:
            updates.update(progress=prog[0], message=prog[1])
        with transaction.atomic():
            if cands:
                Candidate.objects.bulk_create(cands, batch_size=500)
                updates.update(candidate_count=self._next_index, metric_keys=self._metric_keys)
            if points:
                SeriesPoint.objects.bulk_create(points, batch_size=1000)
            Experiment.objects.filter(pk=self.experiment_id).update(**updates)
        if self._front_dirty and (final or time.monotonic() - self._last_front
                                  >= self.front_interval * max(1.0, self._next_index / 10000)):
            self.refresh_front()
            self._front_dirty = False
            self._last_front = time.monotonic()

    def close(self) -> None:
        """The last flush, then the workdir is removed."""
        try:
            self.flush(final=True)
        finally:
            self.discard_workdir()

    def discard_workdir(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
