"""The stored Pareto front of an experiment (``Candidate.on_front``)."""
from __future__ import annotations

import logging

from django.db import transaction

from engine import techniques
from engine.search.pareto import front_indices

from ..models import Candidate, Experiment

__all__ = ["experiment_refresh_front"]
log = logging.getLogger(__name__)


def experiment_refresh_front(*, experiment_id: int) -> list[int]:
    """Compute the Pareto front (``engine.search.pareto.front_indices``, the CLI's rule) on
    the technique's first two objectives that the candidates report, and store
    it as ``on_front``; returns the candidates' primary keys."""
    exp = Experiment.objects.get(pk=experiment_id)
    objectives = _front_objectives(exp)
    rows = list(Candidate.objects.filter(experiment_id=experiment_id).order_by("index").values_list("pk", "metrics"))
    front_pks = [rows[i][0] for i in front_indices([m for _, m in rows], dict(objectives))]
    with transaction.atomic():
        Candidate.objects.filter(experiment_id=experiment_id, on_front=True).exclude(pk__in=front_pks) \
            .update(on_front=False)
        Candidate.objects.filter(pk__in=front_pks).update(on_front=True)
        Experiment.objects.filter(pk=experiment_id).update(front_objectives=[list(o) for o in objectives])
    from ..plots import plot_warm

    try:  # a large experiment's scatter, built before anyone opens the page (the run never fails for it)
        plot_warm(experiment_id)
    except Exception:  # noqa: BLE001
        log.warning("could not build the plot of experiment %s ahead of time", experiment_id, exc_info=True)
    return front_pks


def _front_objectives(exp: Experiment) -> list[tuple[str, str]]:
    numeric = {k for k, v in (exp.metric_keys or {}).items() if v == "number"}
    if exp.technique not in techniques:
        return []
    objs = [(m, d) for m, d in techniques.get(exp.technique).objectives_for(numeric).items() if m in numeric]
    return objs[:2]
