"""Pages. Views are thin: parse the request, call a service or selector, render."""
from __future__ import annotations

import json
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from engine import techniques
from engine.metrics import ESTIMATE_SOURCES, METRICS, estimate_source, metric_info

from . import charts, plots, selectors, services
from .errors import ApplicationError
from .forms import CONFIG_PREFIX, ExperimentForm, HardwareProfileForm, config_form_class
from .models import Candidate, Experiment, HardwareProfile, Network


def _config_form(technique: str, data=None, *, user=None):
    return config_form_class(technique)(data, prefix=CONFIG_PREFIX, user=user)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontier/home.html", {
        "active": selectors.experiment_list(user=request.user).filter(status__in=Experiment.ACTIVE)[:20],
        "recent": selectors.experiment_list(user=request.user).exclude(status__in=Experiment.ACTIVE)[:20],
        "profiles": selectors.hardware_list(), "counts": selectors.experiment_counts(user=request.user),
        "techniques": techniques.items(),
    })


@login_required
def experiment_list(request: HttpRequest) -> HttpResponse:
    f = {k: request.GET.get(k) or None for k in ("technique", "status", "hardware", "owner")}
    qs = selectors.experiment_list(user=request.user, **f)
    from django.core.paginator import Paginator

    return render(request, "frontier/experiment_list.html", {
        "page": Paginator(qs, 50).get_page(request.GET.get("page")), "filters": f,
        "techniques": techniques.names(), "statuses": Experiment.Status.values, "profiles": selectors.hardware_list()})


@login_required
def experiment_new(request: HttpRequest) -> HttpResponse:
    technique = request.POST.get("technique") or request.GET.get("technique") or techniques.names()[0]
    if technique not in techniques:
        technique = techniques.names()[0]
    if request.method == "POST":
        form = ExperimentForm(request.POST)
        cform = config_form_class(technique)(request.POST, request.FILES, prefix=CONFIG_PREFIX, user=request.user)
        if form.is_valid() and cform.is_valid():
            try:
                config = cform.cleaned_config()
                for name, (uploaded, kind) in cform.uploaded_files().items():
                    try:
                        config[name] = services.upload_save(owner=request.user, uploaded=uploaded, kind=kind)
                    except ApplicationError as e:
                        raise ApplicationError(e.message, field_errors={
                            f"config.{name}": e.field_errors.get("file", e.message)}) from None
                exp = services.experiment_launch(owner=request.user, technique=form.cleaned_data["technique"],
                                                 hardware=form.cleaned_data["hardware"],
                                                 config=config, name=form.cleaned_data["name"],
                                                 shared=form.cleaned_data["shared"])
                return redirect("experiment", pk=exp.pk)
            except ApplicationError as e:
                _attach_errors(e, form, cform)
    else:
        initial = {"technique": technique, "hardware": request.GET.get("hardware") or "local-cpu"}
        form = ExperimentForm(initial=initial)
        cform = _config_form(technique, user=request.user)
        if request.GET.get("network"):  # "use as input" from a network's page
            for s in cform.specs:
                if s.network is not None:
                    cform.initial[s.name] = request.GET["network"]
    return render(request, "frontier/experiment_new.html", {
        "form": form, "cform": cform, "technique": techniques.get(technique)})


def _attach_errors(e: ApplicationError, form, cform) -> None:
    for key, msg in e.field_errors.items():
        if key.startswith("config."):
            name = key.split(".", 1)[1]
            (cform.add_error(name, msg) if name in cform.fields else cform.add_error(None, f"{name}: {msg}"))
        elif key in form.fields:
            form.add_error(key, msg)
        else:
            form.add_error(None, f"{key}: {msg}")
    if not e.field_errors:
        form.add_error(None, e.message)


@login_required
@require_GET
def experiment_settings(request: HttpRequest) -> HttpResponse:
    technique = request.GET.get("technique", "")
    if technique not in techniques:
        raise Http404("unknown technique")
    return render(request, "frontier/_config_form.html", {
        "cform": _config_form(technique, user=request.user), "technique": techniques.get(technique)})


def _experiment(request: HttpRequest, pk: int) -> Experiment:
    """The experiment if ``request.user`` may see it; else 404 (its existence is not told either)."""
    return get_object_or_404(selectors.experiments_visible(request.user).select_related("hardware", "owner"), pk=pk)


def _axes(request: HttpRequest, exp: Experiment) -> tuple[str, str, list[str]]:
    return plots.default_axes(exp, request.GET.get("x", ""), request.GET.get("y", ""))


@login_required
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exp = _experiment(request, pk)
    x, y, metrics = _axes(request, exp)
    tech = techniques.get(exp.technique) if exp.technique in techniques else None
    return render(request, "frontier/experiment_detail.html", {
        "exp": exp, "x": x, "y": y, "metrics": [(m, metric_info(m).label) for m in metrics], "technique": tech,
        "artifacts": selectors.artifacts_for(exp), "config_rows": _config_rows(exp, request.user),
        "networks": exp.networks.select_related("candidate").order_by("id"),
        "can_manage": selectors.can_manage_experiment(request.user, exp),
        "series_names": sorted(selectors.series_for(exp)), "thin_threshold": plots.THIN_THRESHOLD,
        "cross_rows": selectors.cross_hardware_rows((exp.summary or {}).get("metrics") or {}),
        "cross_tolerance": ((exp.summary or {}).get("metrics") or {}).get("cross_matched_tolerance"),
        "summary_cards": selectors.summary_cards((exp.summary or {}).get("metrics") or {}),
        "translations": selectors.translation_examples(exp),
        "hat_claim": selectors.hat_claim((exp.summary or {}).get("metrics") or {}),
        "reproducibility": selectors.reproducibility_note(exp),
    })


def _config_rows(exp: Experiment, user) -> list[tuple[str, str, object]]:
    if exp.technique not in techniques:
        return [(k, k, v) for k, v in exp.config.items()]
    specs = {s.name: s for s in techniques.get(exp.technique).config_cls.specs()}
    rows = []
    for k, v in exp.config.items():
        if k in specs and specs[k].network and v:  # a network setting holds the network's id
            n = (selectors.networks_visible(user).filter(pk=int(v)).first()
                 if re.fullmatch(r"[0-9]{1,18}", str(v)) else None)
            v = f"#{v} {n.name}" if n else (f"#{v} (deleted)" if not Network.objects.filter(pk=v).exists()
                                            else f"#{v} (private)")
        rows.append((k, specs[k].label if k in specs else k, _show(v)))
    return rows


def _show(value: object) -> object:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if value == "":
        return "—"
    return value


@login_required
def experiment_status(request: HttpRequest, pk: int) -> HttpResponse:
    exp = _experiment(request, pk)
    return render(request, "frontier/_status.html", {"exp": exp,
                                                     "can_manage": selectors.can_manage_experiment(request.user, exp)})


@login_required
def experiment_plot(request: HttpRequest, pk: int) -> HttpResponse:
    """The scatter's figure (``webapp.plots``): above ``THIN_THRESHOLD`` candidates
    thinned (every front point kept) and sent as binary typed arrays; ``?all=1``
    every point as plain JSON. Cached per state of the experiment, with an ETag."""
    exp = _experiment(request, pk)
    x, y, metrics = _axes(request, exp)
    if metrics and (x not in metrics or y not in metrics):
        return JsonResponse({"error": f"unknown axis: choose x and y among {', '.join(metrics)}"}, status=400)
    every = request.GET.get("all") == "1"
    etag = plots.plot_etag(exp, x, y, every=every)
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        resp = HttpResponse(status=304)  # the same figure (the page reads the job's status from its own fragment)
    else:
        resp = HttpResponse(plots.plot_body(exp, x, y, every=every, etag=etag), content_type="application/json")
    resp["ETag"] = etag
    resp["Cache-Control"] = "private, no-cache"
    return resp


@login_required
def experiment_series(request: HttpRequest, pk: int) -> JsonResponse:
    exp = _experiment(request, pk)
    series = selectors.series_for(exp)
    # group curves by the part before "/" (loss/resnet18, loss/mobilenet → one "loss" plot)
    groups: dict[str, list[str]] = {}
    for name in sorted(series):
        groups.setdefault(name.split("/", 1)[0], []).append(name)
    figs = [{"title": g, "figure": charts.series_figure(series, names, title=g)} for g, names in groups.items()]
    tech = techniques.get(exp.technique) if exp.technique in techniques else None
    if tech and tech.breakdown:
        rows = [(str(c.metrics.get("network") or "")[:40]
                 or " ".join(str(v) for v in c.architecture.values())[:40] or f"#{c.index}", c.metrics)
                for c in exp.candidates.order_by("index")[:50]]
        hw = exp.hardware_snapshot
        from django.template.defaultfilters import filesizeformat

        mem = hw.get("memory_capacity_mb", 0) * 2**20
        limits = [(f"{hw.get('name', 'device')} memory ({filesizeformat(mem)})", mem)]
        if hw.get("kind") == "mcu" and hw.get("onchip_memory_kb"):
            sram = hw["onchip_memory_kb"] * 1024
            limits.append((f"on-chip SRAM ({filesizeformat(sram)})", sram))
        if rows:
            figs = [{"title": title, "figure": charts.breakdown_figure(rows, metrics, limits=limits)}
                    for title, metrics in tech.breakdown.items()] + figs
    # block connectivity of the candidates whose architecture reports it (which earlier outputs each layer reads)
    figs += [{"title": f"Block connectivity: {label}", "figure": charts.connectivity_figure(label, conn)}
             for label, conn in selectors.connectivity_for(exp)]
    # encoder-decoder networks drawn layer by layer; predicted latency against measured
    figs += [{"title": f"Layers: {label}", "figure": charts.layers_figure(label, layers)}
             for label, layers in selectors.layer_tables_for(exp)]
    pairs = selectors.latency_pairs_for(exp)
    if pairs["measured"]:
        figs.append({"title": "Latency: predicted against measured", "figure": charts.latency_pairs_figure(pairs)})
    return JsonResponse({"figures": figs, "status": exp.status}, encoder=DjangoJSONEncoder)


@login_required
def experiment_candidates(request: HttpRequest, pk: int) -> HttpResponse:
    exp = _experiment(request, pk)
    ordering = request.GET.get("ordering", "index")
    front_only = request.GET.get("front") == "1"
    try:
        page = selectors.candidate_page(exp, page=request.GET.get("page", 1), ordering=ordering, front_only=front_only)
    except ApplicationError:
        ordering = "index"
        page = selectors.candidate_page(exp, page=request.GET.get("page", 1), front_only=front_only)
    cols = list((exp.metric_keys or {}).keys())
    rows = [(c, [(c.metrics.get(k), estimate_source(c.metrics, k)) for k in cols],
             selectors.architecture_summary(c.architecture, 90)) for c in page]
    return render(request, "frontier/_candidates.html", {
        "exp": exp, "page": page, "cols": [(k, metric_info(k).label) for k in cols], "rows": rows,
        "ordering": ordering, "front_only": front_only})


@login_required
@require_POST
def experiment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    exp = _experiment(request, pk)
    try:
        services.experiment_cancel(experiment=exp, user=request.user)
        messages.info(request, "Cancel requested; the job stops within a few seconds.")
    except ApplicationError as e:
        messages.error(request, e.message)
    if request.htmx:
        exp = _experiment(request, pk)
        return render(request, "frontier/_status.html", {
            "exp": exp, "can_manage": selectors.can_manage_experiment(request.user, exp)})
    return redirect("experiment", pk=pk)


@login_required
@require_POST
def experiment_share(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's (or staff's) switch: shared with everyone signed in, or private."""
    exp = _experiment(request, pk)
    try:
        exp = services.experiment_share(experiment=exp, user=request.user, shared=request.POST.get("shared") == "1")
        messages.info(request, "Shared with everyone signed in." if exp.shared else "Private: only you and staff see it.")
    except ApplicationError as e:
        messages.error(request, e.message)
    return redirect("experiment", pk=pk)


@login_required
def artifact_file(request: HttpRequest, pk: int, artifact_id: int, name: str) -> HttpResponse:
    """An artifact's bytes, to whoever may see its experiment (no bare /media/ mount): images and
    videos inline, anything else as a download."""
    import mimetypes

    from django.http import FileResponse

    exp = _experiment(request, pk)
    art = get_object_or_404(exp.artifacts, pk=artifact_id)
    if art.filename != name:
        raise Http404("no such file")
    try:
        fh = art.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("the file is gone") from None
    ctype = mimetypes.guess_type(art.filename)[0] or "application/octet-stream"
    inline = ctype.startswith(("image/png", "image/gif", "image/jpeg", "video/"))
    return FileResponse(fh, as_attachment=not inline, filename=art.filename,
                        content_type=ctype if inline else "application/octet-stream")


@login_required
def upload_file(request: HttpRequest, owner_id: int, name: str) -> HttpResponse:
    """A user's uploaded file: its owner, staff, and whoever may see an experiment that names it."""
    from django.http import FileResponse

    import os

    relative = f"{owner_id}/{name}"
    if name.startswith(".") or not selectors.upload_visible(request.user, relative):
        raise Http404("no such file")
    folder = os.path.join(os.path.realpath(settings.UPLOADS_DIR), str(owner_id))
    path = os.path.realpath(os.path.join(folder, name))
    if os.path.dirname(path) != folder or not os.path.isfile(path):
        raise Http404("no such file")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name)


@login_required
@require_POST
def experiment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    exp = _experiment(request, pk)
    try:
        services.experiment_delete(experiment=exp, user=request.user)
        messages.info(request, f"Deleted experiment #{pk}.")
        return redirect("home")
    except ApplicationError as e:
        messages.error(request, e.message)
        return redirect("experiment", pk=pk)


@login_required
@require_POST
def experiment_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    exp = _experiment(request, pk)
    try:
        new = services.experiment_launch(owner=request.user, technique=exp.technique, hardware=exp.hardware,
                                         config=exp.config, name=exp.name,
                                         shared=exp.shared and exp.owner_id == request.user.pk)  # yours: as it was
        return redirect("experiment", pk=new.pk)
    except ApplicationError as e:
        messages.error(request, e.message + " " + "; ".join(f"{k}: {v}" for k, v in e.field_errors.items()))
        return redirect("experiment", pk=pk)


def _metric_order(metrics: dict) -> list[str]:
    """The metrics the dashboard knows first (accuracy, latency, …, in its
    order), then the rest by name: PostgreSQL's jsonb keeps no key order."""
    known = [k for k in METRICS if k in metrics]
    return known + sorted(k for k in metrics if k not in METRICS)


@login_required
def candidate_detail(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    exp = _experiment(request, pk)
    cand = get_object_or_404(Candidate, experiment=exp, index=index)
    arch = cand.architecture
    blocks = _blocks(arch)
    scalars = [(k, v) for k, v in arch.items() if not isinstance(v, (list, dict))]
    return render(request, "frontier/candidate_detail.html", {
        "exp": exp, "cand": cand, "blocks": blocks, "scalars": scalars,
        "metrics": [(k, metric_info(k).label, metric_info(k).unit, cand.metrics[k]) for k in _metric_order(cand.metrics)],
        "sources": [(k.removesuffix("_source").replace("_", " ").capitalize(), v, v in ESTIMATE_SOURCES)
                    for k, v in sorted(cand.metrics.items()) if k.endswith("_source") and isinstance(v, str)],
        "arch_json": json.dumps(arch, indent=2), "artifacts": cand.artifacts.all(),
        "networks": cand.networks.all(),
    })


def _blocks(arch: dict) -> dict | None:
    """A table of blocks from parallel per-block lists (kernels, expands, …) or a list of dicts."""
    if all(isinstance(arch.get(k), list) for k in ("depths", "kernels", "expands")) and not arch.get("blocks"):
        # the MBConv space's format: per stage a depth, per block slot a kernel and an expand ratio
        slots = len(arch["kernels"]) // max(1, len(arch["depths"]))
        rows = [[i + 1, j + 1, arch["kernels"][i * slots + j], arch["expands"][i * slots + j]]
                for i, d in enumerate(arch["depths"]) for j in range(min(d, slots))]
        return {"cols": ["stage", "block", "kernel", "expand"], "rows": rows, "diagram": _diagram(
            [dict(zip(["stage", "block", "kernel", "expand"], r)) for r in rows])}
    if isinstance(arch.get("blocks"), list) and arch["blocks"] and isinstance(arch["blocks"][0], dict):
        # PostgreSQL's jsonb does not keep key order: a fixed order, then the rest sorted
        keys = {k for b in arch["blocks"] for k in b}
        first = [k for k in ("stage", "block", "kernel", "expand", "width", "stride") if k in keys]
        cols = first + sorted(keys - set(first))
        return {"cols": cols, "rows": [[b.get(c) for c in cols] for b in arch["blocks"]],
                "diagram": _diagram(arch["blocks"])}
    lists = {k: v for k, v in arch.items() if isinstance(v, list) and v and not isinstance(v[0], (list, dict))}
    if not lists:
        return None
    n = max(len(v) for v in lists.values())
    cols = [k for k, v in lists.items() if len(v) == n]
    return {"cols": cols, "rows": [[lists[c][i] for c in cols] for i in range(n)]}


def _diagram(blocks: list[dict]) -> list[dict] | None:
    """Boxes for drawing a network block by block: height from the expand
    ratio, colour from the kernel size."""
    if not blocks or not all("kernel" in b and "expand" in b for b in blocks):
        return None
    colours = {3: "#93c5fd", 5: "#3b82f6", 7: "#1e3a8a"}
    return [{"label": f"MB{b['expand']} {b['kernel']}x{b['kernel']}", "stage": b.get("stage", ""),
             "height": 28 + 10 * int(b["expand"]), "colour": colours.get(int(b["kernel"]), "#64748b"),
             "title": ", ".join(f"{k} {v}" for k, v in b.items())} for b in blocks]


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    # ASCII digits, within the database's range ("²".isdigit() is true; 2**63 overflows SQLite)
    ids = [int(i) for i in request.GET.getlist("ids") if re.fullmatch(r"[0-9]{1,18}", i)][:12]
    exps = list(selectors.experiments_visible(request.user).filter(pk__in=ids).select_related("hardware"))
    x = request.GET.get("x", "latency_ms")[:60]
    y = request.GET.get("y", "accuracy")[:60]
    text = request.GET.get("constraint", "")[:200]
    error = ""
    try:
        constraints = selectors.parse_constraint(text)
    except ApplicationError as e:
        constraints, error = [], e.field_errors.get("constraint", e.message)
    metric_names = sorted({k for e in exps for k, v in (e.metric_keys or {}).items() if v == "number"}
                          | {"latency_ms", "accuracy"})
    data = selectors.compare_data(exps, x, y, constraints) if exps else None
    return render(request, "frontier/compare.html", {
        "all": selectors.experiment_list(user=request.user).filter(candidate_count__gt=0)[:200], "chosen": set(ids), "exps": exps,
        "x": x, "y": y, "constraint": text, "constraints": constraints, "error": error, "data": data,
        "metrics": [(m, metric_info(m).label) for m in metric_names],
        "figure": charts.compare_figure(data) if data else None,
    })


@login_required
def hardware_list(request: HttpRequest) -> HttpResponse:
    return render(request, "frontier/hardware_list.html", {"profiles": selectors.hardware_list()})


@login_required
def hardware_detail(request: HttpRequest, slug: str) -> HttpResponse:
    hw = get_object_or_404(HardwareProfile, slug=slug)
    from .services.hardware import lookup_table_info

    return render(request, "frontier/hardware_detail.html", {
        "hw": hw, "experiments": selectors.experiment_list(user=request.user, hardware=slug)[:20], "lut": lookup_table_info(hw),
        "can_edit": (hw.builtin and request.user.is_staff) or (not hw.builtin and
                                                              (hw.owner_id == request.user.pk or request.user.is_staff)),
        "peaks": sorted((hw.peak_gmacs or {}).items()),
    })


@login_required
@require_POST
def hardware_lut(request: HttpRequest, slug: str) -> HttpResponse:
    """Upload (or remove) the lookup table measured on the device."""
    hw = get_object_or_404(HardwareProfile, slug=slug)
    try:
        if request.POST.get("remove"):
            services.hardware_lookup_table_remove(profile=hw, user=request.user)
            messages.success(request, "Lookup table removed; latency on this profile is the roofline estimate again.")
        else:
            f = request.FILES.get("file")
            if f is None:
                raise ApplicationError("Choose the lut.json written by the device agent.")
            services.hardware_lookup_table_attach(profile=hw, user=request.user, data=f)
            messages.success(request, "Lookup table attached: searches on this profile now use it.")
    except ApplicationError as e:
        messages.error(request, e.message + (" " + e.field_errors["file"] if "file" in e.field_errors else ""))
    return redirect("hardware", slug=slug)


@login_required
def hardware_edit(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    hw = get_object_or_404(HardwareProfile, slug=slug) if slug else None
    if request.method == "POST":
        form = HardwareProfileForm(request.POST, editing=hw is not None,
                                   initial=HardwareProfileForm.initial_from(hw) if hw else None)
        if form.is_valid():
            try:
                if hw:
                    hw = services.hardware_profile_update(profile=hw, user=request.user, data=form.profile_data())
                else:
                    hw = services.hardware_profile_create(owner=request.user, slug=form.cleaned_data["slug"],
                                                          data=form.profile_data())
                messages.success(request, f"Saved {hw.slug}.")
                return redirect("hardware", slug=hw.slug)
            except ApplicationError as e:
                for k, v in e.field_errors.items():
                    form.add_error(form.field_for(k), v if form.field_for(k) else f"{k}: {v}")
                if not e.field_errors:
                    form.add_error(None, e.message)
    else:
        form = HardwareProfileForm(initial=HardwareProfileForm.initial_from(hw) if hw else None, editing=hw is not None)
    return render(request, "frontier/hardware_form.html", {"form": form, "hw": hw})


# -- saved networks ---------------------------------------------------------------------------

def _network(request: HttpRequest, pk: int) -> Network:
    """The network if ``request.user`` may see it (it follows the experiment that made it); else 404."""
    return get_object_or_404(selectors.networks_visible(request.user).select_related(
        "owner", "experiment", "parent", "candidate"), pk=pk)


@login_required
def network_list(request: HttpRequest) -> HttpResponse:
    from django.core.paginator import Paginator

    from engine.problems import PROBLEMS

    f = {k: request.GET.get(k) or None for k in ("problem", "dataset", "owner")}
    sort = request.GET.get("sort") if request.GET.get("sort") in selectors.NETWORK_SORTS else "newest"
    profile = request.GET.get("profile") or None
    if profile and not HardwareProfile.objects.filter(slug=profile).exists():
        profile = None
    qs = selectors.network_list(user=request.user, **f, sort=sort, profile=profile)
    return render(request, "frontier/network_list.html", {
        "page": Paginator(qs, 50).get_page(request.GET.get("page")), "filters": f, "sort": sort,
        "sorts": list(selectors.NETWORK_SORTS), "profile": profile, "profiles": selectors.hardware_list(),
        "problems": list(PROBLEMS),
        "datasets": sorted(set(selectors.networks_visible(request.user).exclude(dataset="")
                               .values_list("dataset", flat=True)))})


@login_required
def network_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from engine.metrics import source_key

    net = _network(request, pk)
    metrics = [(k, v, net.metrics.get(source_key(k))) for k, v in net.metrics.items()
               if not k.endswith("_source") and k != "latency_profile"]
    peak = max((b.get("macs") or 0 for b in net.blocks), default=0)
    takes = [(n, t) for n, t in techniques.items()
             if any(s.network and net.problem_kind in s.network for s in t.config_cls.specs())]
    return render(request, "frontier/network_detail.html", {
        "net": net, "metrics": metrics, "lineage": selectors.network_lineage(net, user=request.user),
        "children": selectors.networks_visible(request.user).filter(parent=net).select_related("experiment")
        .order_by("created_at"),
        "latencies": selectors.network_latency_table(net), "profiles": selectors.hardware_list(),
        "blocks": net.blocks, "peak_macs": peak or 1, "can_edit": net.owner_id == request.user.pk or request.user.is_staff,
        "takes": takes, "spec_json": json.dumps(net.spec, indent=1), "split_onnx": _split_exports(net),
        "preprocess": [(k, ", ".join(f"{x:.4g}" for x in v) if isinstance(v, list) else v)
                       for k, v in sorted((net.preprocess or {}).items())]})


def _split_exports(net: Network) -> list[tuple[str, str, bool]]:
    """An encoder-decoder's split ONNX files (format, file name, made already), else none."""
    from engine.networks import SPLIT_FILES

    from .services.networks import network_folder

    if net.problem_kind != "sequence-to-sequence":
        return []
    folder = network_folder(net)
    return [(fmt, name, (folder / name).is_file()) for fmt, name in SPLIT_FILES.items()]


@login_required
def network_upload(request: HttpRequest) -> HttpResponse:
    from .forms import NetworkUploadForm

    if request.method == "POST":
        form = NetworkUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                net = services.network_upload(owner=request.user, data=form.cleaned_data,
                                              weights=form.cleaned_data["weights"])
                messages.success(request, f"Network {net.name} uploaded: every tensor matched {net.spec['args']['model']}.")
                return redirect("network", pk=net.pk)
            except ApplicationError as e:
                for key, msg in e.field_errors.items():
                    form.add_error(key if key in form.fields else None, msg)
                if not e.field_errors:
                    form.add_error(None, e.message)
    else:
        form = NetworkUploadForm()
    return render(request, "frontier/network_upload.html", {"form": form})


@login_required
def network_download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    from django.http import FileResponse

    net = _network(request, pk)
    try:
        path = services.network_export(network=net, fmt=fmt)
    except ApplicationError as e:
        if e.status == 404:
            raise Http404(e.message) from None
        messages.error(request, e.message)
        return redirect("network", pk=pk)
    from .services.networks import EXPORTS

    ext = {"safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt", "json": ".json",
           "onnx-encoder": "-encoder.onnx", "onnx-decoder-step": "-decoder-step.onnx"}[fmt]
    from engine.networks import slugify

    return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{slugify(net.name)}{ext}",
                        content_type=EXPORTS[fmt][1])


@login_required
@require_POST
def network_delete(request: HttpRequest, pk: int) -> HttpResponse:
    net = _network(request, pk)
    try:
        services.network_delete(network=net, user=request.user)
    except ApplicationError as e:
        messages.error(request, e.message)
        return redirect("network", pk=pk)
    messages.success(request, f"Network {net.name} deleted.")
    return redirect("networks")


@login_required
@require_POST
def network_measure(request: HttpRequest, pk: int) -> HttpResponse:
    net = _network(request, pk)
    try:
        exp = services.network_measure(network=net, hardware=request.POST.get("hardware", ""), user=request.user,
                                       measure_on_device=bool(request.POST.get("measure_on_device")))
    except ApplicationError as e:
        messages.error(request, e.message + " " + "; ".join(f"{k}: {v}" for k, v in e.field_errors.items()))
        return redirect("network", pk=pk)
    messages.success(request, f"Measuring {net.name} on {exp.hardware.slug}: the figure appears here when it ends.")
    return redirect("experiment", pk=exp.pk)


# -- design-automation flows --------------------------------------------------------------------

FLOW_LATER = ("amc", "haq")


@login_required
def flow_new(request: HttpRequest) -> HttpResponse:
    """Search -> prune -> quantise on one profile: the first step's technique, then AMC and HAQ, each
    with its generated settings form (their network comes from the step before)."""
    from .services.flows import FIRST_STEPS

    first = request.POST.get("first") or request.GET.get("first") or "evolution"
    if first not in FIRST_STEPS:
        first = "evolution"
    chain = [first, *FLOW_LATER]
    data = request.POST if request.method == "POST" else None
    forms_ = [config_form_class(t)(data, prefix=f"s{k}", user=request.user) for k, t in enumerate(chain)]
    for k, f in enumerate(forms_):
        if k:
            for s in f.specs:
                if s.network:
                    f.fields.pop(s.name, None)
    form = ExperimentForm(data, initial={"hardware": request.GET.get("hardware") or "local-cpu",
                                         "technique": first})
    if request.method == "POST" and form.is_valid() and all(f.is_valid() for f in forms_):
        steps = [{"technique": t, "config": {k: v for k, v in f.cleaned_config().items() if k in f.fields}}
                 for k, (t, f) in enumerate(zip(chain, forms_))
                 if k == 0 or request.POST.get(f"use-{t}")]
        try:
            exp = services.flow_launch(owner=request.user, hardware=form.cleaned_data["hardware"], steps=steps,
                                       name=form.cleaned_data["name"])
            return redirect("flow", flow_id=exp.flow["id"])
        except ApplicationError as e:
            for key, msg in e.field_errors.items():
                parts = key.split(".")
                if len(parts) >= 4 and parts[0] == "steps" and parts[1].isdigit() and int(parts[1]) < len(forms_):
                    f = forms_[int(parts[1])]
                    (f.add_error(parts[3], msg) if parts[3] in f.fields else f.add_error(None, msg))
                else:
                    form.add_error(None, f"{key}: {msg}")
    return render(request, "frontier/flow_new.html", {
        "form": form, "steps": list(zip(chain, forms_, [techniques.get(t) for t in chain])), "first": first,
        "firsts": FIRST_STEPS})


@login_required
def flow_detail(request: HttpRequest, flow_id: str) -> HttpResponse:
    steps = selectors.flow_experiments(flow_id, user=request.user)
    if not steps:
        raise Http404("no such flow")
    planned = steps[0].flow.get("steps", [])
    rows = []
    for k, st in enumerate(planned):
        exp = next((e for e in steps if e.flow.get("step") == k), None)
        net = selectors.result_network(exp) if exp is not None else None
        rows.append({"k": k + 1, "technique": st["technique"], "exp": exp, "net": net})
    last = next((r["net"] for r in reversed(rows) if r["net"] is not None), None)
    return render(request, "frontier/flow_detail.html", {
        "flow": steps[0].flow, "rows": rows, "last": last,
        "lineage": selectors.network_lineage(last, user=request.user) if last else [], "active": any(e.is_active for e in steps)})


# -- accounts ---------------------------------------------------------------------------------

from django.contrib.auth import views as auth_views  # noqa: E402


def _sign_in_locked(request: HttpRequest) -> HttpResponse | None:
    """A 429 page while the POSTed user name or the client's address is locked out, else None.
    (The lock-out itself is enforced by webapp.backends on every password check; this only says so.)"""
    from django.contrib.auth.forms import AuthenticationForm

    from .services.accounts import client_address, login_locked_for

    if request.method != "POST":
        return None
    username = request.POST.get("username", "")
    wait = login_locked_for(username=username, address=client_address(request.META))
    if not wait:
        return None
    minutes = wait // 60 + 1
    response = render(request, "frontier/login.html", {
        "form": AuthenticationForm(request, initial={"username": username[:150]}),
        "next": request.POST.get("next", "")[:500],
        "locked": f"Too many wrong passwords: sign-in is locked for {minutes} more minute{'s' if minutes > 1 else ''}."},
        status=429)
    response["Retry-After"] = str(wait)
    return response


class LoginView(auth_views.LoginView):
    """The login form, throttled: after repeated wrong passwords for a user name or from an address,
    sign-in is refused (HTTP 429, even with the right password) until the lock-out ends."""

    template_name = "frontier/login.html"

    def post(self, request, *args, **kwargs):
        return _sign_in_locked(request) or super().post(request, *args, **kwargs)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The API token: create (which replaces the old one) or revoke, and when it expires."""
    from rest_framework.authtoken.models import Token

    from .api.auth import token_expires_at
    from .services.accounts import token_create, token_revoke

    if request.method == "POST":
        if request.POST.get("action") == "create":
            token_create(user=request.user)
            messages.success(request, "New API token created; the old one (if any) no longer works.")
        elif request.POST.get("action") == "revoke":
            n = token_revoke(user=request.user)
            messages.info(request, "API token revoked." if n else "You had no API token.")
        else:
            messages.error(request, "Unknown action.")
        return redirect("account")
    token = Token.objects.filter(user=request.user).first()
    from django.utils import timezone

    return render(request, "frontier/account.html", {
        "token": token, "expires_at": token_expires_at(token) if token else None,
        "expired": bool(token and timezone.now() >= token_expires_at(token)),
        "ttl_days": settings.FRONTIER_TOKEN_TTL_DAYS})
