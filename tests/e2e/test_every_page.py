"""In a real Chromium: every registered technique launched from its form on its
smallest settings (``Technique.smoke``, read from the registry: a technique
added later joins by itself) and waited for; then every page of
``webapp.urls`` (walked, not listed) opened with no console error and no 5xx.

A technique still running after ``SMOKE_WAIT_S`` is checked to be running and
cancelled from its page (said in the test's output) so the test stays bounded
(``FRONTIER_E2E_SMOKE_WAIT_S`` sets it; 4 exercises the cancel path)."""
from __future__ import annotations

import os
import re
import time

import pytest

from engine import ConfigError, techniques
from webapp.models import Artifact, Candidate, Experiment, Network

from .flows import check_only, login
from .test_launch_from_form import live_worker  # noqa: F401  (fixture)
from .test_nas_flow import cache  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

#: the longest a smoke run is waited for before it is cancelled from its page
SMOKE_WAIT_S = float(os.environ.get("FRONTIER_E2E_SMOKE_WAIT_S", 60))
TERMINAL = ("succeeded", "failed", "cancelled")


def _needed_networks(t) -> list[str]:
    """The network settings a technique's smoke config cannot run without."""
    try:
        t.parse(dict(t.smoke))
        return []
    except ConfigError as e:
        return [s.name for s in t.config_cls.specs() if s.network and s.name in e.errors]


def _fill_settings(page, t, network_id: int | None) -> None:
    """The technique's smoke values into its generated form, as a user would type them."""
    page.eval_on_selector_all("#config-form details", "els => els.forEach(d => d.open = true)")
    needed = _needed_networks(t)
    for s in t.config_cls.specs():
        sel = f"#config-form [name=cfg-{s.name}]"
        if s.name not in t.smoke:
            if s.name in needed:
                assert network_id is not None, f"{t.name} needs a network"
                page.select_option(sel, str(network_id))
            continue
        v = t.smoke[s.name]
        if s.multiple and s.choices is not None:
            check_only(page, f"cfg-{s.name}", [str(x) for x in v])
        elif s.multiple:
            page.fill(sel, ", ".join(map(str, v)))
        elif s.kind == "bool" and s.choices is None:
            page.set_checked(sel, bool(v))
        elif page.eval_on_selector(sel, "e => e.tagName") == "SELECT":
            page.select_option(sel, str(v))
        else:
            page.fill(sel, str(v))


def _launch(page, url: str, name: str, t, network_id: int | None) -> tuple[Experiment, str]:
    page.goto(url + "/experiments/new/")
    page.select_option("#id_technique", name)
    page.wait_for_selector(f"#config-form >> text={t.title}", timeout=15_000)
    page.select_option("#id_hardware", "local-cpu")
    page.fill("input[name=name]", f"every page: {name}")
    _fill_settings(page, t, network_id)
    page.click("button:has-text('Launch')")
    try:
        page.wait_for_url(re.compile(r".*/experiments/\d+/$"), timeout=20_000)
    except Exception:
        errors = page.inner_text("main")
        raise AssertionError(f"{name}: the form did not launch: {errors[:1500]}") from None
    exp = Experiment.objects.get(name=f"every page: {name}")
    end = time.monotonic() + SMOKE_WAIT_S
    status = ""
    while time.monotonic() < end:
        exp.refresh_from_db()
        status = exp.status
        if status in TERMINAL:
            break
        time.sleep(0.5)
    if status not in TERMINAL:  # bounded: a long smoke run is seen running, then cancelled from its page
        assert status == "running", f"{name} never started: {status} {exp.message}"
        page.goto(f"{url}/experiments/{exp.pk}/")
        if page.query_selector("#cancel-btn") is None:
            raise AssertionError(f"{name}: no cancel button on its page while {exp.status}: "
                                 f"{page.inner_text('main')[:600]}")
        page.click("#cancel-btn")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and exp.status not in TERMINAL:
            time.sleep(0.5)
            exp.refresh_from_db()
        # (a run that ends while the cancel is on its way has succeeded: fine too)
        assert exp.status in ("cancelled", "succeeded"), f"{name}: after cancel {exp.status}: {exp.error[-1500:]}"
        return exp, "cancelled" if exp.status == "cancelled" else "succeeded (as it was cancelled)"
    assert status == "succeeded", f"{name} {status}: {exp.message}\n{exp.error[-2000:]}"
    return exp, "succeeded"


def _patterns(resolver=None, prefix: str = "", ns: str = ""):
    """(name, parameter names, route) of every URL pattern, the admin as its index only."""
    from django.urls import URLResolver, get_resolver

    for p in (resolver or get_resolver()).url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if p.namespace == "admin":
                yield "admin:index", [], route
                continue
            yield from _patterns(p, route, ns + (f"{p.namespace}:" if p.namespace else ""))
        else:
            yield (ns + p.name if p.name else None), list(p.pattern.regex.groupindex), route


def _urls(objects: dict) -> list[str]:
    """Every page's URL with real objects for its parameters; a parameter nobody
    knows fails the test, so a new page gets a value here."""
    from django.urls import reverse

    out = []
    for name, params, route in _patterns():
        if "format" in params:  # DRF's .json / .api suffix variants of the same views
            continue
        if name is None:  # the media files: an artifact of a run
            assert params == ["path"], f"an unnamed URL pattern {route!r}: give it a name or a value here"
            if objects.get("artifact"):
                out.append(objects["artifact"])
            continue
        if name == "artifact_file":  # an artifact of a run, through the view that checks who may see it
            if objects.get("artifact"):
                out.append(reverse(name, kwargs=objects["artifact"]))
            continue
        if name == "upload_file":  # a user's upload, likewise (who may read one: tests/webapp/test_privacy.py)
            if objects.get("upload"):
                out.append(reverse(name, kwargs=objects["upload"]))
            continue
        kwargs = {}
        for k in params:
            if k == "pk":
                kwargs[k] = (objects["network"] if "network" in route else objects["hardware_pk"] if "hardware" in
                             route else objects["experiment"])
            elif k in objects:
                kwargs[k] = objects[k]
            else:
                raise AssertionError(f"no value for <{k}> of {route!r} ({name}): add one in test_every_page")
        out.append(reverse(name, kwargs=kwargs))
    return sorted(set(out))


def test_every_technique_from_its_form_and_every_page(cache, live_server, live_worker, browser_page,
                                                      django_user_model, tmp_path):
    import torch
    from safetensors.torch import save_file
    from torchvision.models import mobilenet_v2

    page, url = browser_page, live_server.url
    login(page, url, django_user_model)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text} ({page.url})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e} ({page.url})"))
    page.on("response", lambda r: problems.append(f"{r.status} from {r.url}") if r.status >= 500 else None)

    # a network of the user's, for the techniques that take one (uploaded through its page)
    torch.manual_seed(0)
    weights = tmp_path / "mv2.safetensors"
    save_file({k: v.contiguous() for k, v in mobilenet_v2(width_mult=0.25, num_classes=10).state_dict().items()},
              str(weights))
    page.goto(f"{url}/networks/upload/")
    page.fill("input[name=name]", "every-page-mobilenet")
    page.select_option("select[name=architecture]", "mobilenet_v2")
    page.fill("input[name=width]", "0.25")
    page.fill("input[name=classes]", "10")
    page.fill("input[name=resolution]", "32")
    page.set_input_files("input[name=weights]", str(weights))
    page.click("#network-upload button[type=submit]")
    page.wait_for_url("**/networks/*/")
    net = Network.objects.get(name="every-page-mobilenet")

    outcome: dict[str, str] = {}
    started = time.monotonic()
    for name, t in techniques.items():
        t0 = time.monotonic()
        exp, how = _launch(page, url, name, t, net.pk)
        outcome[name] = f"{how} in {time.monotonic() - t0:.0f} s (#{exp.pk}, {exp.candidate_count} candidates)"
    print("\n".join(f"{k}: {v}" for k, v in outcome.items()), f"\nall launched in {time.monotonic() - started:.0f} s")
    assert set(outcome) == set(techniques.names())
    assert sum(v.startswith("succeeded") for v in outcome.values()) >= len(outcome) // 2, outcome

    # every page, with objects the runs made
    exp = Experiment.objects.filter(status="succeeded", candidate_count__gt=0).order_by("id").first()
    cand = Candidate.objects.filter(experiment=exp).order_by("index").first()
    Experiment.objects.filter(pk=exp.pk).update(
        flow={"id": "every-page-flow", "step": 0, "steps": [{"technique": exp.technique, "config": {}}]})
    art = Artifact.objects.exclude(file="").order_by("id").first()
    objects = {"experiment": exp.pk, "index": cand.index, "slug": "local-cpu", "hardware_pk": exp.hardware_id,
               "network": net.pk, "fmt": "safetensors", "name": exp.technique, "flow_id": "every-page-flow",
               "artifact": {"pk": art.experiment_id, "artifact_id": art.pk, "name": art.filename} if art else None}
    opened, skipped = [], []
    for u in _urls(objects):
        r = page.request.get(url + u, max_redirects=0)
        assert r.status < 500, f"{u}: {r.status}"
        if r.status == 405:  # a POST-only view (cancel, delete, logout, …)
            skipped.append(u)
            continue
        if r.status == 200 and "text/html" in r.headers.get("content-type", "") and "<html" in r.text()[:500].lower():
            # (an htmx fragment, e.g. the candidate table, is checked by its status only: it is not a page)
            page.goto(url + u, wait_until="networkidle", timeout=30_000)
            opened.append(u)
    assert not problems, "\n".join(problems)
    for must in ("/", "/experiments/", f"/experiments/{exp.pk}/", "/hardware/", "/networks/", "/networks/upload/",
                 "/flows/every-page-flow/", "/api/docs/", "/compare/"):
        assert must in opened, f"{must} was not opened: {opened}"
    print(f"opened {len(opened)} pages; POST-only, not opened: {', '.join(skipped)}")
