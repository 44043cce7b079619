"""In a real Chromium, under the site's Content-Security-Policy: every page
opens without a policy violation or a script error, Plotly draws (its WebGL
scatter too, past 3,000 points), Swagger UI starts, and the delete buttons ask
first (their confirm used to be an inline handler, which the policy blocks)."""
from __future__ import annotations

import pytest

from tests.webapp.test_services import make_exp
from webapp.models import Experiment

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_pages_run_under_the_policy(live_server, browser_page, profiles, django_user_model):
    user = django_user_model.objects.create_user(username="cora", password="cora-pass-123")
    hw = profiles["local-cpu"]
    small = make_exp(user, hw, [{"latency_ms": 1.0 + i, "accuracy": 0.5 + i / 100} for i in range(20)], name="small")
    big = make_exp(user, hw, [{"latency_ms": 1.0 + (i * 37 % 4001) / 100, "accuracy": (i * 53 % 997) / 1000}
                              for i in range(3500)], name="big")
    make_exp(user, hw, status=Experiment.Status.FAILED, error="Traceback: boom", name="failed")
    page = browser_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text} at {m.location} on {page.url}")
            if m.type == "error" or "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    # every violation, also those a script catches (an eval inside try/catch logs nothing to the console)
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))")

    def violations() -> None:
        problems.extend(f"CSP {v} on {page.url}" for v in page.evaluate("() => window.__csp || []"))

    page.goto(live_server.url + "/login/")
    page.fill("input[name=username]", "cora")
    page.fill("input[name=password]", "cora-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")

    for url in ("/", "/experiments/", "/experiments/new/", "/hardware/", "/hardware/local-cpu/", "/networks/",
                "/flows/new/", "/account/", f"/compare/?ids={small.pk}&ids={big.pk}"):
        page.goto(live_server.url + url)
        page.wait_for_load_state("networkidle")
        violations()
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)  # compare's front plot
    violations()

    page.goto(live_server.url + f"/experiments/{small.pk}/")
    page.wait_for_selector("#pareto .main-svg", timeout=20_000)
    violations()
    webgl = page.evaluate("() => !!document.createElement('canvas').getContext('webgl')")
    page.goto(live_server.url + f"/experiments/{big.pk}/")
    page.wait_for_selector("#pareto .main-svg", timeout=30_000)
    if webgl:  # the scattergl trace draws on a canvas: its shaders come precompiled in the strict bundle
        page.wait_for_selector("#pareto canvas", timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert "scattergl" in page.evaluate("() => document.querySelector('#pareto').data.map(t => t.type)")
    violations()

    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=30_000)
    violations()

    # the delete button asks first: dismissed, nothing is deleted; accepted, it is
    dialogs: list[str] = []

    def answer(d, accept):
        dialogs.append(d.message)
        d.accept() if accept else d.dismiss()

    page.goto(live_server.url + f"/experiments/{small.pk}/")
    page.once("dialog", lambda d: answer(d, False))
    page.click("button:has-text('Delete')")
    page.wait_for_timeout(500)
    assert dialogs == [f"Delete experiment #{small.pk} and its files?"]
    assert Experiment.objects.filter(pk=small.pk).exists()
    page.once("dialog", lambda d: answer(d, True))
    page.click("button:has-text('Delete')")
    page.wait_for_url(live_server.url + "/")
    assert not Experiment.objects.filter(pk=small.pk).exists()
    assert not problems, problems
