"""The experiment page's scatter as a response body: built from the selectors'
data and the charts' figure, once per state of an experiment, and kept in the
``plots`` cache (files shared by every process on the machine). The web view
serves it with an ETag; the front refresh warms it for the default axes, so
the first visit after a large run finds it built."""
from __future__ import annotations

import hashlib
import json

from django.core.cache import caches
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Sum

from engine import techniques

from . import charts, selectors
from .models import Experiment

__all__ = ["THIN_THRESHOLD", "WEBGL_THRESHOLD", "default_axes", "plot_etag", "plot_body", "plot_warm"]

#: more candidates than this: every point as WebGL markers (the path of ``?all=1``)
WEBGL_THRESHOLD = 3000
#: more candidates than this: the scatter is thinned and sent as binary arrays
THIN_THRESHOLD = 5000
CACHE_SECONDS = 3600


def default_axes(exp: Experiment, x: str = "", y: str = "") -> tuple[str, str, list[str]]:
    """The scatter's axes (``x`` / ``y`` when given) and the numeric metrics to choose from."""
    metrics = selectors.numeric_metrics(exp)
    tech = techniques.get(exp.technique) if exp.technique in techniques else None
    dx, dy = tech.axes_for(metrics) if tech else ("", "")
    front = [m for m, _ in exp.front_objectives or []]
    x = x or (dx if dx in metrics else (front[0] if front else (metrics[0] if metrics else "")))
    y = y or (dy if dy in metrics else (front[1] if len(front) > 1 else (metrics[1] if len(metrics) > 1 else x)))
    return x, y, metrics


def _group_by(exp: Experiment) -> str:
    return techniques.get(exp.technique).group_by if exp.technique in techniques else ""


def plot_etag(exp: Experiment, x: str, y: str, *, every: bool) -> str:
    """What the figure depends on: the axes, the candidates (their count) and the stored front."""
    front = exp.candidates.filter(on_front=True).aggregate(n=Count("id"), s=Sum("index"))
    state = (exp.pk, str(exp.created_at), x, y, _group_by(exp), every, exp.candidate_count, front["n"], front["s"],
             sorted(exp.front_objectives or []))
    return '"' + hashlib.sha1(repr(state).encode()).hexdigest() + '"'


def _build(exp: Experiment, x: str, y: str, *, every: bool) -> dict:
    group_by = _group_by(exp)
    if every or exp.candidate_count <= THIN_THRESHOLD:
        data = selectors.scatter_data(exp, x, y, group_by=group_by)
        fig = charts.pareto_figure(data, webgl=len(data.xs) > WEBGL_THRESHOLD)
        return {"figure": fig, "count": len(data.xs), "shown": len(data.xs), "thinned": False}
    data = selectors.scatter_thinned(exp, x, y, group_by=group_by)
    return {"figure": charts.thinned_figure(data), "count": data.total, "shown": len(data.xs), "thinned": data.thinned}


def plot_body(exp: Experiment, x: str, y: str, *, every: bool = False, etag: str | None = None) -> bytes:
    """The JSON body ``{"figure", "count", "shown", "thinned", "status"}``; the
    figure from the cache when this state was built before (the status is the
    experiment's now)."""
    etag = etag or plot_etag(exp, x, y, every=every)
    cache = caches["plots"]
    part = cache.get("plot:" + etag)
    if part is None:
        part = json.dumps(_build(exp, x, y, every=every), cls=DjangoJSONEncoder, separators=(",", ":")).encode()
        cache.set("plot:" + etag, part, CACHE_SECONDS)
    return part[:-1] + b',"status":' + json.dumps(exp.status).encode() + b"}"


def plot_warm(experiment_id: int) -> None:
    """Build the default axes' figure of a large experiment ahead of its first visit."""
    exp = Experiment.objects.filter(pk=experiment_id).first()
    if exp is None or exp.candidate_count <= THIN_THRESHOLD:
        return
    x, y, metrics = default_axes(exp)
    if x in metrics and y in metrics:
        plot_body(exp, x, y)
