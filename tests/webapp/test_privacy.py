"""Private data stays private (issue 17, part 4): an experiment is its owner's
unless shared with everyone signed in; staff see all; networks follow the
experiment that made them; artifacts and uploads are served through views that
check the same rule; a traceback is for the owner and staff; anonymous users
get the login page and nothing else."""
from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.webapp.test_services import TOY, launch_toy, make_exp, toy  # noqa: F401
from tests.webapp.test_uploads import png_bytes, upload
from webapp import services
from webapp.models import Experiment, Network

pytestmark = pytest.mark.django_db
S = Experiment.Status
SECRET = "Traceback (most recent call last): secret-path /home/alice/data"


def _client(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def alices(profiles, user):
    """alice's private experiment with a candidate, a failed one with a traceback, and a shared one."""
    private = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1.0, "accuracy": 0.5}], name="alice-private")
    failed = make_exp(user, profiles["local-cpu"], [{"latency_ms": 2.0, "accuracy": 0.4}], name="alice-failed",
                      status=S.FAILED, error=SECRET, message="It failed: out of memory", shared=True)
    shared = make_exp(user, profiles["local-cpu"], [{"latency_ms": 3.0, "accuracy": 0.6}], name="alice-shared",
                      shared=True)
    return private, failed, shared


PAGES = ["/experiments/{pk}/", "/experiments/{pk}/status/", "/experiments/{pk}/plot.json",
         "/experiments/{pk}/series.json", "/experiments/{pk}/candidates/", "/experiments/{pk}/candidates/0/"]
API = ["/api/experiments/{pk}/", "/api/experiments/{pk}/candidates/", "/api/experiments/{pk}/series/",
       "/api/experiments/{pk}/artifacts/"]


@pytest.mark.parametrize("url", PAGES + API)
def test_a_private_experiment_is_its_owners(client, alices, user, other_user, staff, url):
    private, _, shared = alices
    for who, code in ((user, 200), (other_user, 404), (staff, 200)):
        client.force_login(who)
        c = _client(who) if url.startswith("/api/") else client
        assert c.get(url.format(pk=private.pk)).status_code == code, who
    client.force_login(other_user)
    c = _client(other_user) if url.startswith("/api/") else client
    assert c.get(url.format(pk=shared.pk)).status_code == 200


def test_lists_follow_the_rule(client, alices, other_user, staff):
    private, failed, shared = alices
    bob = _client(other_user)
    assert {e["id"] for e in bob.get("/api/experiments/").json()["results"]} == {failed.pk, shared.pk}
    assert {e["id"] for e in _client(staff).get("/api/experiments/").json()["results"]} == {e.pk for e in alices}
    client.force_login(other_user)
    for url in ("/", "/experiments/", "/compare/", "/hardware/local-cpu/"):
        t = client.get(url).content.decode()
        assert "alice-private" not in t and "alice-shared" in t, url
    home = client.get("/")
    assert sum(home.context["counts"].values()) == 2
    # comparing asks for ids: a private one is left out
    r = client.get(f"/compare/?ids={private.pk}&ids={shared.pk}")
    assert [e.pk for e in r.context["exps"]] == [shared.pk]


def test_the_traceback_is_for_the_owner_and_staff(client, alices, user, other_user, staff):
    _, failed, _ = alices
    for who, sees in ((user, True), (other_user, False), (staff, True)):
        client.force_login(who)
        page = client.get(f"/experiments/{failed.pk}/").content.decode()
        assert (SECRET in page) is sees and "It failed: out of memory" in page, who
        status = client.get(f"/experiments/{failed.pk}/status/").content.decode()
        assert (SECRET in status) is sees, who
        body = _client(who).get(f"/api/experiments/{failed.pk}/").json()
        assert (body["error"] == SECRET) is sees and body["message"] == "It failed: out of memory", who
        listed = {e["id"]: e for e in _client(who).get("/api/experiments/").json()["results"]}
        assert (listed[failed.pk]["error"] == SECRET) is sees
        # a refused cancel answers htmx with the status partial: without the traceback for bob
        partial = client.post(f"/experiments/{failed.pk}/cancel/", HTTP_HX_REQUEST="true").content.decode()
        assert 'data-status="failed"' in partial and (SECRET in partial) is sees, who


def test_the_share_switch_on_the_page(client, alices, user, other_user):
    private, _, shared = alices
    client.force_login(user)
    page = client.get(f"/experiments/{private.pk}/").content.decode()
    assert 'id="share-btn"' in page and "private to alice" in page
    r = client.post(f"/experiments/{private.pk}/share/", {"shared": "1"})
    assert r.status_code == 302 and Experiment.objects.get(pk=private.pk).shared
    client.force_login(other_user)
    page = client.get(f"/experiments/{private.pk}/").content.decode()
    assert page and 'id="share-btn"' not in page  # bob sees it now, without the switch
    r = client.post(f"/experiments/{shared.pk}/share/", {"shared": "0"}, follow=True)
    assert "Only the owner or staff" in r.content.decode() and Experiment.objects.get(pk=shared.pk).shared
    client.force_login(user)
    client.post(f"/experiments/{private.pk}/share/", {"shared": "0"})
    assert not Experiment.objects.get(pk=private.pk).shared
    client.force_login(other_user)
    assert client.get(f"/experiments/{private.pk}/").status_code == 404
    assert client.get(f"/experiments/{private.pk}/share/").status_code == 405


def test_the_share_switch_in_the_api(api, alices, other_user, staff, profiles, no_queue):
    private, _, shared = alices
    r = api.post(f"/api/experiments/{private.pk}/share/", {"shared": True}, format="json")
    assert r.status_code == 200 and r.json()["shared"] is True
    for bad in ({}, {"shared": "yes"}, {"shared": True, "x": 1}):
        r = api.post(f"/api/experiments/{private.pk}/share/", bad, format="json")
        assert r.status_code == 400, bad
    bob = _client(other_user)
    assert bob.post(f"/api/experiments/{shared.pk}/share/", {"shared": False}, format="json").status_code == 403
    assert Experiment.objects.get(pk=shared.pk).shared
    assert _client(staff).post(f"/api/experiments/{shared.pk}/share/", {"shared": False},
                               format="json").status_code == 200
    assert bob.get(f"/api/experiments/{shared.pk}/").status_code == 404
    # launched shared from the start; launched private by default
    r = api.post("/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu", "shared": True,
                                       "config": {"train_epochs": 0}}, format="json")
    assert r.status_code == 201 and r.json()["shared"] is True
    r = api.post("/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu"}, format="json")
    assert r.status_code == 201 and r.json()["shared"] is False
    assert api.post("/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu", "shared": "1"},
                    format="json").status_code == 400


def test_the_launch_form_has_the_switch(client, user, profiles, no_queue):
    client.force_login(user)
    assert 'name="shared"' in client.get("/experiments/new/").content.decode()
    client.post("/experiments/new/", {"technique": "model-zoo", "hardware": "local-cpu", "shared": "on",
                                      "cfg-models": "squeezenet1_1", "cfg-train_epochs": "0"})
    assert Experiment.objects.get().shared


def test_artifacts_are_served_by_the_rule(client, toy, profiles, user, other_user, no_queue, media_root):
    exp = services.experiment_execute(experiment_id=launch_toy(user).pk)
    art = exp.artifacts.get()
    url = art.url
    assert url == f"/experiments/{exp.pk}/files/{art.pk}/toy0.json"
    assert client.get(url).status_code == 302  # anonymous: the login page
    client.force_login(user)
    r = client.get(url)
    assert r.status_code == 200 and b"".join(r.streaming_content) == b'{"hello": "world"}'
    assert r["Content-Disposition"].startswith("attachment")  # only images and videos are shown inline
    assert client.get(url.replace("toy0.json", "other.json")).status_code == 404
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    Experiment.objects.filter(pk=exp.pk).update(shared=True)
    assert client.get(url).status_code == 200
    # an artifact id of another experiment under this one's URL is refused
    other = make_exp(other_user, profiles["local-cpu"])
    assert client.get(f"/experiments/{other.pk}/files/{art.pk}/toy0.json").status_code == 404


def test_uploads_are_their_owners_and_of_experiments_that_name_them(client, api, user, other_user, profiles,
                                                                     media_root, no_queue):
    path = upload(api, png_bytes(), "cat.png").json()["path"]
    url = f"/uploads/{path}"
    assert client.get(url).status_code == 302
    client.force_login(user)
    r = client.get(url)
    assert r.status_code == 200 and b"".join(r.streaming_content) == (media_root / "uploads" / path).read_bytes()
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    r = api.post("/api/experiments/", {"technique": "dlg", "hardware": "local-cpu",
                                       "config": {"image_file": path}}, format="json")
    assert r.status_code == 201
    assert client.get(url).status_code == 404  # named by alice's private experiment: still hers
    Experiment.objects.filter(pk=r.json()["id"]).update(shared=True)
    assert client.get(url).status_code == 200  # named by a shared one: seen with it
    owner_id = path.split("/")[0]
    for bad in (f"/uploads/{owner_id}/.incoming-x.png", f"/uploads/{owner_id}/..", f"/uploads/{owner_id}/nope.png"):
        assert client.get(bad).status_code == 404, bad


def _network(owner, exp=None, name="net") -> Network:
    return Network.objects.create(uid=f"{name}-{owner.pk}", owner=owner, name=name, builder="torchvision",
                                  problem_kind="image-classification", experiment=exp, dataset=f"ds-{name}")


def test_networks_follow_their_experiment(client, alices, user, other_user, staff):
    private, _, shared = alices
    hidden = _network(user, private, "hidden")
    seen = _network(user, shared, "seen")
    uploaded = _network(user, None, "uploaded")
    bob = _client(other_user)
    assert {n["id"] for n in bob.get("/api/networks/").json()["results"]} == {seen.pk}
    assert {n["id"] for n in _client(user).get("/api/networks/").json()["results"]} == {hidden.pk, seen.pk,
                                                                                          uploaded.pk}
    assert len(_client(staff).get("/api/networks/").json()["results"]) == 3
    client.force_login(other_user)
    for n, code in ((hidden, 404), (uploaded, 404), (seen, 200)):
        assert bob.get(f"/api/networks/{n.pk}/").status_code == code
        assert client.get(f"/networks/{n.pk}/").status_code == code
    assert client.get(f"/networks/{hidden.pk}/download/json/").status_code == 404
    t = client.get("/networks/").content.decode()
    assert "ds-seen" in t and "ds-hidden" not in t and "ds-uploaded" not in t


def test_a_childs_lineage_stops_at_a_parent_bob_may_not_see(alices, user, other_user):
    from webapp import selectors

    private, _, shared = alices
    parent = _network(user, private, "parent")
    child = _network(user, shared, "child")
    Network.objects.filter(pk=child.pk).update(parent=parent)
    child.refresh_from_db()
    assert [s.network for s in selectors.network_lineage(child, user=user)] == [parent, child]
    assert [s.network for s in selectors.network_lineage(child, user=other_user)] == [child]


def test_a_private_flow_is_its_owners(client, api, user, other_user, profiles, no_queue):
    r = api.post("/api/flows/", {"hardware": "local-cpu", "steps": [
        {"technique": "model-zoo", "config": {"train_epochs": 1}}, {"technique": "amc", "config": {}}]},
        format="json")
    assert r.status_code == 201, r.json()
    flow = Experiment.objects.get(pk=r.json()["id"]).flow["id"]
    client.force_login(user)
    assert client.get(f"/flows/{flow}/").status_code == 200
    client.force_login(other_user)
    assert client.get(f"/flows/{flow}/").status_code == 404


# --- anonymous: the login page and nothing else -------------------------------------------

SAMPLE = {"int": "1", "slug": "local-cpu", "str": "x", "path": "x"}


def _routes(patterns, prefix=""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route


def _example(route: str) -> str | None:
    if route.startswith("^") or "(?P" in route:  # regex routes: the router's format suffixes and admin's
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", "1", route).strip("^$").replace("\\.", ".").replace("/?", "/")
        if re.search(r"[\\()\[\]|*+?]", route):
            return None
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), route)


def test_anonymous_users_get_the_login_page_and_nothing_else(client, alices, media_root):
    urls = sorted({u for u in (_example(r) for r in _routes(get_resolver().url_patterns)) if u})
    assert len(urls) > 40
    open_to_all = {"/login/", "/admin/login/"}  # the two login pages
    for url in urls:
        if url in open_to_all:
            continue
        r = client.get(url)
        if url.startswith("/api/"):
            assert r.status_code in (301, 302, 401, 403, 404, 405), (url, r.status_code)
            if r.status_code in (301, 302):
                assert "/login/" in r["Location"], url
            assert b"alice" not in r.content, url
        elif url.startswith("/admin/"):  # the admin sends to its login page (its logout: to /admin/, which does)
            assert r.status_code in (302, 404) and (r.status_code == 404 or "login" in r["Location"]
                                                    or r["Location"] == "/admin/"), url
        else:
            assert r.status_code in (302, 404, 405), (url, r.status_code)
            if r.status_code == 302:
                assert r["Location"].startswith("/login/"), url
    # the schema and its pages too
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/")["Location"].startswith("/login/")
    login = client.get("/login/")
    assert login.status_code == 200 and b"alice" not in login.content


def test_run_again_keeps_my_switch_and_never_shares_for_me(client, alices, user, other_user, no_queue):
    _, _, shared = alices
    client.force_login(user)
    client.post(f"/experiments/{shared.pk}/rerun/")
    assert Experiment.objects.order_by("-id").first().shared  # my shared run, again: shared
    client.force_login(other_user)
    client.post(f"/experiments/{shared.pk}/rerun/")
    mine = Experiment.objects.order_by("-id").first()
    assert mine.owner == other_user and not mine.shared  # bob's copy is bob's, private
