"""Every read the pages and the API make. Plain data out; charts draw it."""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Case, F, FloatField, Func, Q, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from engine import techniques
from engine.metrics import direction, metric_info, source_key, source_label
from engine.search.pareto import front_indices, front_mask_2d, hypervolume_2d

from .errors import ApplicationError
from .models import Artifact, Candidate, Experiment, HardwareProfile, Network, NetworkLatency, SeriesPoint

__all__ = ["is_number", "connectivity_for", "layer_tables_for", "latency_pairs_for", "experiments_visible",
           "can_view_experiment", "can_manage_experiment",
           "networks_visible", "can_view_network", "upload_visible", "experiment_list", "candidate_page", "candidate_queryset", "series_for", "artifacts_for", "translation_examples",
           "scatter_data", "scatter_thinned", "ThinnedScatter", "compare_data", "parse_constraint", "best_under_constraint", "technique_catalogue",
           "hardware_list", "experiment_counts", "numeric_metrics", "Constraint", "network_list", "network_choices",
           "network_lineage", "network_latency_table", "summary_cards", "reproducibility_note", "NETWORK_SORTS", "LineageStep", "flow_experiments", "result_network"]


def is_number(v: Any) -> bool:
    """A real number: booleans are not."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- who sees what ---------------------------------------------------------------------------
# An experiment is private to its owner unless its owner shares it with everyone signed in; staff
# see all. A network follows the experiment that made it (an uploaded one is its owner's); a run's
# artifacts follow their experiment; an uploaded file is its owner's, and readable by whoever may
# see an experiment whose settings name it. Only the owner and staff see a failure's traceback.

def experiments_visible(user) -> QuerySet[Experiment]:
    """The experiments ``user`` may see (none for an anonymous user)."""
    if user is None or not user.is_authenticated:
        return Experiment.objects.none()
    if user.is_staff:
        return Experiment.objects.all()
    return Experiment.objects.filter(Q(owner=user) | Q(shared=True))


def can_view_experiment(user, exp: Experiment) -> bool:
    return bool(user is not None and user.is_authenticated
                and (user.is_staff or exp.owner_id == user.pk or exp.shared))


def can_manage_experiment(user, exp: Experiment) -> bool:
    """Cancel, delete, share, and read the traceback: the owner and staff."""
    return bool(user is not None and user.is_authenticated and (user.is_staff or exp.owner_id == user.pk))


def networks_visible(user) -> QuerySet[Network]:
    if user is None or not user.is_authenticated:
        return Network.objects.none()
    if user.is_staff:
        return Network.objects.all()
    return Network.objects.filter(Q(owner=user) | Q(experiment__shared=True))


def can_view_network(user, net: Network) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff or net.owner_id == user.pk:
        return True
    return net.experiment_id is not None and Experiment.objects.filter(pk=net.experiment_id, shared=True).exists()


def upload_visible(user, relative: str) -> bool:
    """An uploaded file (``<owner id>/<name>`` under UPLOADS_DIR): its owner, staff, and whoever may
    see an experiment whose file setting names it."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff or relative.split("/", 1)[0] == str(user.pk):
        return True
    by_setting = Q()
    for name, t in techniques.items():
        for s in t.config_cls.specs():
            if s.file:
                by_setting |= Q(technique=name, **{f"config__{s.name}": relative})
    return bool(by_setting) and experiments_visible(user).filter(by_setting).exists()


def experiment_list(*, user, technique: str | None = None, status: str | None = None, hardware: str | None = None,
                    owner: str | None = None) -> QuerySet[Experiment]:
    """The experiments ``user`` may see, filtered."""
    qs = experiments_visible(user).select_related("owner", "hardware")
    if technique:
        qs = qs.filter(technique=technique)
    if status:
        qs = qs.filter(status=status)
    if hardware:
        qs = qs.filter(hardware__slug=hardware)
    if owner:
        qs = qs.filter(owner__username=owner)
    return qs


def experiment_counts(*, user) -> dict[str, int]:
    out = {s: 0 for s in Experiment.Status.values}
    for row in experiments_visible(user).values_list("status", flat=True):
        out[row] += 1
    return out


def hardware_list() -> QuerySet[HardwareProfile]:
    return HardwareProfile.objects.all()


def numeric_metrics(exp: Experiment) -> list[str]:
    keys = [k for k, v in (exp.metric_keys or {}).items() if v == "number"]
    order = list(techniques.get(exp.technique).objectives) if exp.technique in techniques else []
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


def candidate_queryset(exp: Experiment, *, front_only: bool = False, ordering: str = "index") -> QuerySet[Candidate]:
    """Candidates ordered by ``index`` or any numeric metric (``-accuracy`` …)."""
    qs = Candidate.objects.filter(experiment=exp)
    if front_only:
        qs = qs.filter(on_front=True)
    desc = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key in ("index", "id", ""):
        return qs.order_by(("-" if desc else "") + "index")
    kind = (exp.metric_keys or {}).get(key)
    if kind is None:
        raise ApplicationError(f"Cannot order by {key!r}.", field_errors={"ordering": f"unknown metric {key!r}"})
    # ->> (text) then a cast: PostgreSQL refuses to cast a JSON null to a number.
    # Candidates without the metric (or with a null) go last on every database.
    text = KeyTextTransform(key, "metrics")
    expr = Cast(text, FloatField()) if kind == "number" else text
    # SQLite reads a JSON null as the text 'null' (a cast makes it 0): make it NULL
    expr = Case(When(Q(**{f"metrics__{key}": None}), then=Value(None)), default=expr)
    qs = qs.annotate(_sort=expr)
    return qs.order_by(F("_sort").desc(nulls_last=True) if desc else F("_sort").asc(nulls_last=True), "index")


def candidate_page(exp: Experiment, *, page: int = 1, per_page: int = 25, front_only: bool = False,
                   ordering: str = "index") -> Page:
    qs = candidate_queryset(exp, front_only=front_only, ordering=ordering)
    return Paginator(qs, per_page).get_page(page)


def series_for(exp: Experiment) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for name, step, value in SeriesPoint.objects.filter(experiment=exp).values_list("name", "step", "value"):
        s = out.setdefault(name, {"step": [], "value": []})
        s["step"].append(step)
        s["value"].append(value)
    return out


def artifacts_for(exp: Experiment) -> dict[str, list[Artifact]]:
    """Artifacts by group: picture groups first, then videos, then downloads."""
    groups: dict[str, list[Artifact]] = {}
    for a in Artifact.objects.filter(experiment=exp).order_by("group", "id"):
        groups.setdefault(a.group or "files", []).append(a)

    def rank(item: tuple[str, list[Artifact]]) -> tuple[int, str]:
        kinds = {a.kind for a in item[1]}
        return (0 if kinds & {"png", "gif"} else 1 if "mp4" in kinds else 2, item[0])

    return dict(sorted(groups.items(), key=rank))


def translation_examples(exp: Experiment, limit: int = 10) -> dict[str, Any] | None:
    """The first ``limit`` example translations of a run that reported them
    (a csv artifact in the group "translations": source, reference, the
    searched network's and the baseline's hypotheses, and each one's sentence
    chrF), as rows for a table; None when the run has none or the file cannot
    be read as that table."""
    import csv
    import io

    art = Artifact.objects.filter(experiment=exp, group="translations", kind="csv").order_by("id").first()
    if art is None:
        return None
    try:
        with art.file.open("rb") as fh:
            text = fh.read(2**20).decode("utf-8", errors="replace")
    except OSError:
        return None
    reader = csv.DictReader(io.StringIO(text))
    if not {"source", "reference", "searched", "baseline"} <= set(reader.fieldnames or ()):
        return None

    def score(v: str | None) -> float | None:
        try:
            return float(v) if v not in (None, "") else None
        except ValueError:
            return None

    rows = []
    for r in reader:
        if len(rows) == limit:
            break
        rows.append({"source": r["source"], "reference": r["reference"], "searched": r["searched"],
                     "baseline": r["baseline"], "chrf_searched": score(r.get("chrf_searched")),
                     "chrf_baseline": score(r.get("chrf_baseline"))})
    if not rows:
        return None
    scored = [r for r in rows if r["chrf_searched"] is not None and r["chrf_baseline"] is not None]
    return {"rows": rows, "artifact": art, "scored": bool(scored),
            "searched_better": sum(r["chrf_searched"] > r["chrf_baseline"] for r in scored),
            "baseline_better": sum(r["chrf_searched"] < r["chrf_baseline"] for r in scored)}


def architecture_summary(arch: dict[str, Any], limit: int = 160) -> str:
    """One line per architecture, by the space that made it (``space.describe``:
    an MBConv network reads as its resolution, then kernel and expand ratio per
    block, ``k7e4``, stages separated by ``|``); anything else as key=value pairs."""
    from engine.spaces import describe_arch

    s = describe_arch(arch)
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass
class ScatterData:
    x: str
    y: str
    xs: list[float]
    ys: list[float]
    ids: list[int]
    labels: list[str]
    on_front: list[bool]
    sources: list[str]  # where each x came from (e.g. latency_source)
    y_sources: list[str] = field(default_factory=list)  # where each y came from (e.g. accuracy_source)
    groups: list[str] = field(default_factory=list)  # each point's group (the technique's ``group_by`` metric)
    group_front: list[bool] = field(default_factory=list)  # on its own group's front in (x, y)


def scatter_data(exp: Experiment, x: str, y: str, *, label_limit: int = 5000, group_by: str = "") -> ScatterData:
    """Points for the scatter. Beyond ``label_limit`` candidates only the
    front carries an architecture summary, which keeps the payload small.
    ``group_by``: a text metric whose value groups each point (empty: none)."""
    qs = Candidate.objects.filter(experiment=exp).order_by("index")
    with_labels = exp.candidate_count <= label_limit
    xs, ys, ids, labels, front, sources, y_sources, groups = [], [], [], [], [], [], [], []
    xkey, ykey = source_key(x), source_key(y)
    if with_labels:
        rows = qs.values_list("index", "metrics", "on_front", "architecture")
    else:
        rows = ((i, m, f, None) for i, m, f in qs.values_list("index", "metrics", "on_front"))
    for index, m, f, arch in rows:
        vx, vy = m.get(x), m.get(y)
        if not is_number(vx) or not is_number(vy):
            continue
        xs.append(vx)
        ys.append(vy)
        ids.append(index)
        labels.append(architecture_summary(arch) if arch is not None else "")
        front.append(f)
        sources.append(str(m.get(xkey, "")))
        y_sources.append(str(m.get(ykey, "")))
        if group_by:
            groups.append(str(m.get(group_by, "")))
    if not with_labels:
        archs = dict(qs.filter(on_front=True).values_list("index", "architecture"))
        labels = [architecture_summary(archs[i]) if i in archs else "" for i in ids]
    group_front: list[bool] = []
    dirs = {x: direction(x), y: direction(y)}
    if groups and x != y and all(dirs.values()):
        group_front = [False] * len(xs)
        for g in dict.fromkeys(groups):
            members = [i for i, v in enumerate(groups) if v == g]
            for j in front_indices([{x: xs[i], y: ys[i]} for i in members], dirs):
                group_front[members[j]] = True
    return ScatterData(x, y, xs, ys, ids, labels, front, sources, y_sources, groups, group_front)


class _JsonNumber(Func):
    """``metrics[key]`` when it is a JSON number, else NULL (text, a boolean, null
    or missing): the database reads the one value, Python never decodes the row."""

    arity = 1
    output_field = FloatField()

    def __init__(self, key: str, field: str = "metrics"):
        super().__init__(F(field))
        self.key = key

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        path = '$."' + self.key.replace('"', "") + '"'
        return (f"CASE WHEN json_type({sql}, %s) IN ('integer', 'real') THEN json_extract({sql}, %s) END",
                (*params, path, *params, path))

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"CASE WHEN jsonb_typeof({sql} -> %s) = 'number' THEN ({sql} ->> %s)::double precision END",
                (*params, self.key, *params, self.key))

    def as_sql(self, compiler, connection, **extra):  # pragma: no cover - SQLite and PostgreSQL only
        raise NotImplementedError(f"plot data on {connection.vendor} is not supported")


@dataclass
class ThinnedScatter:
    """The scatter of a large experiment, thinned for drawing: every point on
    the stored front, on the (x, y) front and on each group's front, and one
    point per small cell of the plot (``grid`` cells across and up, on the
    axes' log or linear scale) standing for the ``counts`` candidates in it.
    Arrays, one entry per drawn point; ``total`` the candidates with both values."""

    x: str
    y: str
    total: int
    xs: "Any"  # numpy float64
    ys: "Any"
    ids: "Any"  # numpy int64, the candidates' index
    counts: "Any"  # numpy int64: candidates the point stands for (itself on a front); they add up to ``total``
    on_front: "Any"  # numpy bool: on the stored front
    trace: "Any"  # numpy int64 into ``traces``
    traces: list[tuple[str, str, str]]  # (group, x source, y source) per trace
    labels: dict[int, str]  # index -> architecture summary, for the stored front's points
    group_front: "Any" = None  # numpy bool, on its own group's (x, y) front; None without groups
    grid: tuple[int, int] = (0, 0)

    @property
    def thinned(self) -> bool:
        return len(self.xs) < self.total


#: cells across and up the plot when thinning (about 5 x 4 pixels each at the page's size, a marker's width)
THIN_GRID = (250, 90)


def scatter_thinned(exp: Experiment, x: str, y: str, *, group_by: str = "", grid: tuple[int, int] = THIN_GRID,
                    label_limit: int = 5000) -> ThinnedScatter:
    """Plot data for any number of candidates in a fraction of a second: the
    database extracts the two values (and their sources) of each candidate;
    numpy finds the fronts and thins the rest to one point per cell; only the
    stored front's architectures are read (at most ``label_limit``)."""
    import numpy as np

    cols = {"xv": _JsonNumber(x), "yv": _JsonNumber(y), "xs": KeyTextTransform(source_key(x), "metrics"),
            "ys": KeyTextTransform(source_key(y), "metrics")}
    if group_by:
        cols["g"] = KeyTextTransform(group_by, "metrics")
    qs = (Candidate.objects.filter(experiment=exp).annotate(**cols).order_by("index")
          .values_list("index", "on_front", *cols))
    sql, params = qs.query.sql_with_params()
    with connections[qs.db].cursor() as cur:  # plain rows: the ORM's per-row work costs more than the query
        cur.execute(sql, params)
        rows = cur.fetchall()
    n = len(rows)
    cols_ = list(zip(*rows)) if rows else [[] for _ in range(4 + len(cols))]
    ids = np.fromiter(cols_[0], dtype=np.int64, count=n)
    front = np.fromiter((bool(v) for v in cols_[1]), dtype=bool, count=n)
    xv = np.array(cols_[2], dtype=np.float64) if n else np.zeros(0)
    yv = np.array(cols_[3], dtype=np.float64) if n else np.zeros(0)
    ok = np.isfinite(xv) & np.isfinite(yv)
    keys: dict[tuple[str, str, str], int] = {}
    groups = cols_[6] if group_by else [""] * n
    code = np.fromiter((keys.setdefault(("" if g is None else str(g), "" if a is None else str(a),
                                         "" if b is None else str(b)), len(keys))
                        for g, a, b in zip(groups, cols_[4], cols_[5])), dtype=np.int64, count=n)
    ids, front, xv, yv, code = ids[ok], front[ok], xv[ok], yv[ok], code[ok]
    total = len(ids)
    used = np.unique(code)
    traces_all = list(keys)
    # renumber the traces actually drawn, in order of first appearance
    remap = np.full(max(len(traces_all), 1), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    code = remap[code] if total else code
    traces = [traces_all[i] for i in used]

    keep = front.copy()
    dirs = (direction(x), direction(y))
    if total and x != y and all(dirs):
        keep |= front_mask_2d(xv, yv, dirs)  # the (x, y) front, whatever the stored one is on
    group_front = None
    if group_by and total and x != y and all(dirs):
        group_front = np.zeros(total, dtype=bool)
        gnames = np.array([t[0] for t in traces], dtype=object)[code]
        for g in dict.fromkeys(t[0] for t in traces):
            members = np.flatnonzero(gnames == g)
            group_front[members[front_mask_2d(xv[members], yv[members], dirs)]] = True
        keep |= group_front
    counts = np.ones(total, dtype=np.int64)
    if total:
        w, h = grid
        cell = _cells(xv, metric_info(x).log_scale, w) * h + _cells(yv, metric_info(y).log_scale, h)
        key = code * (w * h) + cell
        rest = np.flatnonzero(~keep)  # a front point stands for itself
        _, first, per = np.unique(key[rest], return_index=True, return_counts=True)
        rep = rest[first]  # the first other candidate (lowest index) of each cell stands for that cell's others
        counts[rep] = per
        keep[rep] = True
    sel = np.flatnonzero(keep)
    front_ids = ids[front].tolist()[:label_limit]
    archs = dict(Candidate.objects.filter(experiment=exp, index__in=front_ids).values_list("index", "architecture"))
    labels = {i: architecture_summary(a) for i, a in archs.items()}
    return ThinnedScatter(x, y, total, xv[sel], yv[sel], ids[sel], counts[sel], front[sel], code[sel], traces,
                          labels, group_front[sel] if group_front is not None else None, grid)


def _cells(v, log: bool, k: int):
    """Each value's cell among ``k`` equal cells of the axis (log10 on a log axis)."""
    import numpy as np

    t = np.log10(np.where(v > 0, v, np.nan)) if log else v
    fin = np.isfinite(t)
    if not fin.any():
        return np.zeros(len(v), dtype=np.int64)
    lo, hi = float(np.min(t[fin])), float(np.max(t[fin]))
    span = hi - lo or 1.0
    c = np.floor((np.where(fin, t, lo) - lo) / span * k).astype(np.int64)
    return np.clip(c, 0, k - 1)


def connectivity_for(exp: Experiment, *, limit: int = 8) -> list[tuple[str, list[dict[str, Any]]]]:
    """Candidates whose reported architecture draws its block connectivity
    (``connectivity``: per stage, which earlier outputs each layer reads), with
    a label each: the first ``limit`` of them."""
    out = []
    for index, arch, metrics in Candidate.objects.filter(experiment=exp).order_by("index").values_list(
            "index", "architecture", "metrics"):
        conn = arch.get("connectivity") if isinstance(arch, dict) else None
        if isinstance(conn, list) and conn and all(isinstance(s, dict) and isinstance(s.get("reads"), list)
                                                   for s in conn):
            out.append((f"#{index} {metrics.get('network') or architecture_summary(arch, 60)}", conn))
            if len(out) == limit:
                break
    return out


def layer_tables_for(exp: Experiment, *, limit: int = 4) -> list[tuple[str, list[dict[str, Any]]]]:
    """Candidates whose reported architecture lists its layers (``layers``: one
    dict per encoder / decoder layer with ``part``, ``layer``, ``dim``, ``ffn``,
    ``heads`` …, as the hat space's ``structure`` gives), named ones (a
    ``network`` metric: the winner, a baseline) first."""
    rows = []
    for index, arch, metrics in Candidate.objects.filter(experiment=exp).order_by("index").values_list(
            "index", "architecture", "metrics"):
        layers = arch.get("layers") if isinstance(arch, dict) else None
        if isinstance(layers, list) and layers and all(isinstance(r, dict) and "part" in r for r in layers):
            rows.append((0 if metrics.get("network") else 1, index,
                         f"#{index} {metrics.get('network') or architecture_summary(arch, 60)}", layers))
    return [(label, layers) for _, _, label, layers in sorted(rows)[:limit]]


def latency_pairs_for(exp: Experiment) -> dict[str, list[Any]]:
    """Candidates with a measured latency beside predicted ones
    (``latency_measured_ms``, ``latency_predicted_ms`` and, where reported,
    ``latency_linear_ms``): the data of a predicted-against-measured scatter."""
    out: dict[str, list[Any]] = {"measured": [], "predicted": [], "linear": [], "labels": []}
    for index, metrics in Candidate.objects.filter(experiment=exp).order_by("index").values_list("index", "metrics"):
        m, p = metrics.get("latency_measured_ms"), metrics.get("latency_predicted_ms")
        if is_number(m) and is_number(p):
            out["measured"].append(float(m))
            out["predicted"].append(float(p))
            lin = metrics.get("latency_linear_ms")
            out["linear"].append(float(lin) if is_number(lin) else None)
            out["labels"].append(" ".join(str(v) for v in (f"#{index}", metrics.get("search", ""),
                                                            metrics.get("latency_split", "")) if v))
    return out


# --- constraints --------------------------------------------------------------

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]{0,60})\s*(<=|>=|==|<|>)\s*(-?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str
    value: float

    def ok(self, metrics: dict[str, Any]) -> bool:
        v = metrics.get(self.metric)
        return is_number(v) and _OPS[self.op](v, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_constraint(text: str) -> list[Constraint]:
    """Parse ``latency_ms <= 20`` (several joined by ``and`` or commas)."""
    out = []
    for part in re.split(r"\s*(?:,|\band\b)\s*", (text or "").strip()):
        if not part:
            continue
        m = _CONSTRAINT.match(part)
        if not m:
            raise ApplicationError("Bad constraint.", field_errors={
                "constraint": f"cannot read {part!r}; write e.g. latency_ms <= 20"})
        try:
            out.append(Constraint(m.group(1), m.group(2), float(m.group(3))))
        except ValueError:
            raise ApplicationError("Bad constraint.", field_errors={"constraint": f"bad number in {part!r}"}) from None
    return out


def best_under_constraint(exp: Experiment, constraints: list[Constraint], objective: str) -> Candidate | None:
    d = direction(objective) or "max"
    best, best_v = None, None
    for c in Candidate.objects.filter(experiment=exp).only("pk", "index", "metrics", "architecture"):
        v = c.metrics.get(objective)
        if not is_number(v) or not all(k.ok(c.metrics) for k in constraints):
            continue
        if best_v is None or (v < best_v if d == "min" else v > best_v):
            best, best_v = c, v
    return best


def compare_data(exps: list[Experiment], x: str, y: str, constraints: list[Constraint]) -> dict[str, Any]:
    """Each experiment's front on (x, y), its hypervolume against one shared
    reference point (the worst value of each axis over all compared points),
    and its best candidate on y under the constraints."""
    dx, dy = direction(x) or "min", direction(y) or "max"
    series = []
    all_pts: list[tuple[float, float]] = []
    for exp in exps:
        pts = []
        for index, m, arch in Candidate.objects.filter(experiment=exp).order_by("index").values_list(
                "index", "metrics", "architecture"):
            vx, vy = m.get(x), m.get(y)
            if is_number(vx) and is_number(vy):
                pts.append((float(vx), float(vy), index, arch))
        all_pts.extend((p[0], p[1]) for p in pts)
        idx = front_indices([{x: p[0], y: p[1]} for p in pts], {x: dx, y: dy})
        front = sorted((pts[i] for i in idx), key=lambda p: p[0])
        series.append({"experiment": exp, "front": front, "n": len(pts)})
    reference = None
    if all_pts:
        rx = max(p[0] for p in all_pts) if dx == "min" else min(p[0] for p in all_pts)
        ry = max(p[1] for p in all_pts) if dy == "min" else min(p[1] for p in all_pts)
        reference = (rx, ry)
    for s in series:
        s["hypervolume"] = (hypervolume_2d([(p[0], p[1]) for p in s["front"]], reference, (dx, dy))
                            if reference else 0.0)
        s["best"] = best_under_constraint(s["experiment"], constraints, y)
        if s["best"] is not None:
            s["best_architecture"] = architecture_summary(s["best"].architecture, 240)
            s["best_sources"] = ", ".join(source_label(str(s["best"].metrics[k]))
                                          for k in (source_key(x), source_key(y)) if s["best"].metrics.get(k))
    return {"x": x, "y": y, "directions": (dx, dy), "reference": reference, "series": series,
            "x_info": metric_info(x), "y_info": metric_info(y)}


def technique_catalogue() -> list[dict[str, Any]]:
    out = []
    for name, t in techniques.items():
        out.append({"name": name, "title": t.title, "summary": t.summary, "paper": t.paper,
                    "objectives": t.objectives, "axes": list(t.axes), "schema": t.config_cls.json_schema()})
    return out


# -- saved networks ------------------------------------------------------------------------

NETWORK_SORTS = {"newest": "-created_at", "accuracy": "-accuracy", "params": "params", "macs": "macs",
                 "latency": "latency", "name": "name"}


def network_list(*, user, problem: str | None = None, dataset: str | None = None, owner: str | None = None,
                 sort: str = "newest", profile: str | None = None) -> QuerySet[Network]:
    """Saved networks, filtered; ``sort`` one of :data:`NETWORK_SORTS`. With
    ``profile`` each row carries ``latency`` / ``latency_source`` on it: the
    measured figure where there is one, else the best estimate."""
    from django.db.models import OuterRef, Subquery

    qs = networks_visible(user).select_related("owner", "experiment", "parent")
    if problem:
        qs = qs.filter(problem_kind=problem)
    if dataset:
        qs = qs.filter(dataset=dataset)
    if owner:
        qs = qs.filter(owner__username=owner)
    if profile:
        best = (NetworkLatency.objects.filter(network=OuterRef("pk"), hardware__slug=profile)
                .annotate(rank=Case(When(source="measured", then=Value(0)), When(source="lut", then=Value(1)),
                                    When(source="predictor", then=Value(2)), default=Value(3)))
                .order_by("rank"))
        qs = qs.annotate(latency=Subquery(best.values("latency_ms")[:1]),
                         latency_source=Subquery(best.values("source")[:1]))
    key = NETWORK_SORTS.get(sort, "-created_at")
    if key == "latency" and not profile:
        key = "-created_at"
    nulls = F(key.lstrip("-")).desc(nulls_last=True) if key.startswith("-") else F(key).asc(nulls_last=True)
    return qs.order_by(nulls, "-id")


def network_choices(owner, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """(id, label) of ``owner``'s networks of ``kinds``, for a ``network`` setting's drop-down."""
    rows = Network.objects.filter(owner=owner, problem_kind__in=kinds).order_by("-created_at")[:200]
    out = []
    for n in rows:
        acc = f", acc {n.accuracy:.1%}" if n.accuracy is not None else ""
        out.append((str(n.pk), f"#{n.pk} {n.name} ({n.dataset or 'no dataset'}{acc})"))
    return out


@dataclass
class LineageStep:
    network: Network
    accuracy_change: float | None = None
    latency_change: float | None = None
    latency_profile: str = ""


def network_lineage(network: Network, *, user, limit: int = 20) -> list[LineageStep]:
    """The chain root -> … -> ``network``, each step with its accuracy change
    and its latency change on a profile both were priced on (measured first).
    It stops at a parent ``user`` may not see."""
    chain = [network]
    while chain[-1].parent_id and len(chain) < limit:
        parent = networks_visible(user).select_related("experiment").filter(pk=chain[-1].parent_id).first()
        if parent is None or parent in chain:
            break
        chain.append(parent)
    chain.reverse()
    lat = {n.pk: _latencies_by_profile(n) for n in chain}
    steps = [LineageStep(chain[0])]
    for prev, cur in zip(chain, chain[1:]):
        s = LineageStep(cur)
        if prev.accuracy is not None and cur.accuracy is not None:
            s.accuracy_change = cur.accuracy - prev.accuracy
        common = [p for p in lat[cur.pk] if p in lat[prev.pk]]
        if common:
            p = common[0]
            s.latency_profile = p
            s.latency_change = lat[cur.pk][p] - lat[prev.pk][p]
        steps.append(s)
    return steps


def _latencies_by_profile(network: Network) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in sorted(network.latencies.select_related("hardware"), key=lambda r: r.source != "measured"):
        out.setdefault(row.hardware.slug, row.latency_ms)
    return out


def network_latency_table(network: Network) -> list[dict[str, Any]]:
    """Per profile: measured and estimated latency side by side, with the gap."""
    by: dict[str, dict[str, Any]] = {}
    for row in network.latencies.select_related("hardware", "experiment"):
        d = by.setdefault(row.hardware.slug, {"profile": row.hardware, "measured": None, "estimates": []})
        if row.source == "measured":
            d["measured"] = row
        else:
            d["estimates"].append(row)
    for d in by.values():
        m = d["measured"]
        for e in d["estimates"]:
            e.error = (e.latency_ms - m.latency_ms) / m.latency_ms if m and m.latency_ms > 0 else None
    return sorted(by.values(), key=lambda d: d["profile"].slug)


def flow_experiments(flow_id: str, *, user) -> list[Experiment]:
    """The steps of a design flow that ``user`` may see, in order."""
    return list(experiments_visible(user).filter(flow__id=flow_id).select_related("hardware", "owner")
                .prefetch_related("networks").order_by("created_at", "id"))


def result_network(exp: Experiment) -> Network | None:
    """The network a run kept as its result (marked primary; else its most accurate): what a flow's next
    step takes and what the flow's page shows."""
    return (exp.networks.filter(primary=True).order_by("id").first()
            or exp.networks.order_by(F("accuracy").desc(nulls_last=True), "id").first())


def summary_cards(metrics: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[str]]:
    """The summary's figures as cards: scalars, and short lists of numbers joined
    (e.g. per-seed accuracies); nested figures (per-seed tables, …) are left to
    the API's JSON, their names returned so the page can say where they are."""
    cards: list[tuple[str, Any]] = []
    nested: list[str] = []
    for key, value in (metrics or {}).items():
        if isinstance(value, (list, tuple)):
            if len(value) <= 8 and all(isinstance(v, (int, float, str, type(None))) for v in value):
                cards.append((key, value))
            else:
                nested.append(key)
        elif isinstance(value, dict):
            nested.append(key)
        else:
            cards.append((key, value))
    return cards, nested


#: latency sources timed on the machine that ran the job: they vary from run to run
_TIMED = frozenset({"measured"})


def reproducibility_note(exp: Experiment) -> str:
    """The page's line on what a finished run's seed fixes (``engine.seeding``:
    every technique run is seeded and uses deterministic algorithms), naming the
    figures that depend on latency timed on the machine: a ``*_source`` of
    ``measured``, or ``lut`` on a measurable profile (a table timed there),
    in the summary or any candidate. "" for a run that has not succeeded."""
    if exp.status != Experiment.Status.SUCCEEDED:
        return ""
    summary = (exp.summary or {}).get("metrics") or {}
    kinds = exp.metric_keys or {}
    timed_here = _TIMED | ({"lut"} if (exp.hardware_snapshot or {}).get("measurable") else set())
    keys = set(kinds) | set(summary)
    timed: list[str] = []
    for sk in sorted(k for k in keys if k.endswith("_source")):
        if str(summary.get(sk, "")) in timed_here or (kinds.get(sk) == "text" and Candidate.objects.filter(
                experiment=exp, **{f"metrics__{sk}__in": sorted(timed_here)}).exists()):
            timed += sorted(m for m in keys if m != sk and source_key(m) == sk) or [sk[: -len("_source")]]
    base = "Reproducible: the seed fixes this run's results on this machine and library versions"
    if not timed:
        return base + "."
    return (f"{base}, except what depends on measured latency: {', '.join(dict.fromkeys(timed))} (timed on this "
            "machine, they vary from run to run, and so may any choice made on them).")


_CROSS_KEYS = ("profile", "own_ms", "own_acc", "other", "other_ms", "other_acc", "rival_ms", "rival_screen_acc",
               "rival_acc", "own_fastest", "screen_disagrees", "other_within_budget", "rival_within_budget",
               "own_best_at_budget", "same_policy")


def cross_hardware_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A HAQ run's cross-hardware table (``cross_hardware`` in its summary), one
    row per profile: its own policy's latency and test accuracy there, the other
    profile's policy's, the fastest rival the episode score screened as matched
    and its test accuracy, whether the own policy is the fastest at matched
    accuracy, and (runs since the at-budget verdict) whether each rival meets
    this profile's budget and the own policy is the most accurate there. Empty when the run searched one profile; rows missing a field are
    dropped (a summary is stored JSON, not trusted to be whole)."""
    rows = (metrics or {}).get("cross_hardware")
    if not isinstance(rows, list):
        return []
    out = []
    for r in rows:
        if isinstance(r, dict) and all(k in r for k in ("profile", "own_ms", "other_ms", "own_fastest")):
            row = {k: r.get(k) for k in _CROSS_KEYS}
            by = r.get("beaten_by")
            row["beaten_by"] = [b for b in by if b in ("other", "rival")] if isinstance(by, list) else []
            by = r.get("beaten_at_budget_by")
            row["beaten_at_budget_by"] = [b for b in by if b in ("other", "rival")] if isinstance(by, list) else []
            out.append(row)
    return out


_HAT_CROSS_KEYS = ("profile", "source", "limit_ms", "own_ms", "own_val_loss", "other", "other_ms", "other_val_loss",
                   "own_within_limit", "other_within_limit", "same_arch", "holds", "why")


def hat_claim(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """A HAT run's claim tables from its summary: the searched SubTransformer,
    the uniformly scaled one closest to its latency and HAT's Transformer
    baseline (dimension scaling), each with BLEU, chrF and latency; and the
    cross-hardware rows (``hat_cross``: on each profile its own searched
    SubTransformer against the other profile's). None for runs before these
    figures; rows missing a field are dropped (a summary is stored JSON)."""
    m = metrics or {}
    if not all(isinstance(m.get(k), (int, float)) for k in ("bleu_searched", "bleu_baseline", "bleu_transformer",
                                                            "latency_searched_ms", "latency_baseline_ms",
                                                            "latency_transformer_ms")):
        return None
    nets = [{"name": name, "bleu": m[f"bleu_{k}"], "chrf": m.get(f"chrf_{k}"), "val_loss": m.get(f"val_loss_{k}"),
             "ms": m[f"latency_{k}_ms"]}
            for k, name in (("searched", "searched SubTransformer"),
                            ("baseline", "uniformly scaled (layers and dims), closest in latency"),
                            ("transformer", "Transformer, dimension scaling (HAT's baseline)"))]
    rows = m.get("hat_cross")
    cross = [{k: r.get(k) for k in _HAT_CROSS_KEYS} for r in rows if isinstance(r, dict)
             and all(k in r for k in _HAT_CROSS_KEYS)] if isinstance(rows, list) else []
    return {"nets": nets, "dominates": m.get("searched_dominates_transformer"),
            "speedup": m.get("speedup_vs_transformer"), "cross": cross}
