"""The Content-Security-Policy (issue 17, part 5): only the site's own scripts
run — no inline script or handler in any template, no eval (Plotly's strict
bundle, the same release as the plotly wheel's), the header on every page."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.mark.parametrize("url", ["/login/", "/", "/experiments/new/", "/hardware/", "/account/", "/api/docs/"])
def test_every_page_carries_the_policy(client, user, profiles, url):
    if url != "/login/":
        client.force_login(user)
    r = client.get(url)
    assert r.status_code == 200
    p = _policy(r)
    assert p["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert p["default-src"] == ["'self'"] and p["object-src"] == ["'none'"] and p["frame-ancestors"] == ["'none'"]
    assert not any("http" in v for vs in p.values() for v in vs)


def test_no_template_has_an_inline_script_or_handler():
    bad = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for m in re.finditer(r"<script\b([^>]*)>", text):
            attrs = m.group(1)
            if "src=" not in attrs and "application/json" not in attrs:
                bad.append(f"{path.name}: inline <script{attrs}>")
        for m in re.finditer(r"\son[a-z]+\s*=", text):
            bad.append(f"{path.name}: inline handler {m.group(0).strip()}")
        if "javascript:" in text:
            bad.append(f"{path.name}: javascript: URL")
    assert not bad, bad


def test_the_vendored_plotly_is_the_strict_bundle_of_the_wheels_release():
    from plotly.offline import get_plotlyjs_version

    head = (ROOT / "static" / "vendor" / "plotly-strict.min.js").read_text()[:300]
    assert "(strict - minified)" in head and f"v{get_plotlyjs_version()}" in head
    # (its WebGL code looks up shaders compiled ahead of time; tests/e2e/test_pages_csp.py draws one under the policy)


def test_pages_load_plotly_from_the_site(client, user, profiles):
    from tests.webapp.test_services import make_exp

    exp = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1.0, "accuracy": 0.5}])
    client.force_login(user)
    t = client.get(f"/experiments/{exp.pk}/").content.decode()
    assert "/static/vendor/plotly-strict.min.js" in t and 'data-confirm="Delete experiment' in t
    assert "onsubmit" not in t
