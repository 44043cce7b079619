"""Server-rendered pages, with Django's test client."""
from __future__ import annotations

import html
import re

import pytest

from engine import techniques
from tests.webapp.test_services import (GOOD_HW, TOY, db_counts, fast_hashing, launch_toy, make_exp,  # noqa: F401
                                        toy)
from webapp import services
from webapp.models import Experiment, HardwareProfile

S = Experiment.Status
pytestmark = pytest.mark.django_db

METRICS = [{"latency_ms": 5.0, "accuracy": 0.8, "params": 3000, "latency_source": "measured"},
           {"latency_ms": 1.5, "accuracy": 0.6, "params": 1000, "latency_source": "roofline"},
           {"latency_ms": 12.0, "accuracy": 0.9, "params": 9000, "latency_source": "measured"},
           {"latency_ms": 3.0, "accuracy": 0.55, "params": 2000, "latency_source": "lut"}]


@pytest.fixture
def web(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def exp(profiles, user):
    return make_exp(user, profiles["local-cpu"], METRICS, name="four nets")


def text(r) -> str:
    return r.content.decode()


# --- login ----------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/", "/experiments/", "/experiments/new/", "/experiments/new/settings/?technique=model-zoo",
    "/experiments/{pk}/", "/experiments/{pk}/status/", "/experiments/{pk}/plot.json",
    "/experiments/{pk}/series.json", "/experiments/{pk}/candidates/", "/experiments/{pk}/candidates/0/",
    "/compare/?ids={pk}", "/hardware/", "/hardware/new/", "/hardware/local-cpu/", "/hardware/local-cpu/edit/",
])
def test_login_required(client, exp, url):
    url = url.format(pk=exp.pk)
    r = client.get(url)
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=")


def test_anonymous_posts_change_nothing(client, toy, profiles, user, no_queue):
    e = launch_toy(user)
    before = db_counts()
    for url in (f"/experiments/{e.pk}/cancel/", f"/experiments/{e.pk}/delete/", f"/experiments/{e.pk}/rerun/",
                "/experiments/new/", "/hardware/new/"):
        r = client.post(url, {"technique": TOY, "hardware": "local-cpu", "slug": "x", "title": "x"})
        assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert db_counts() == before and Experiment.objects.get(pk=e.pk).status == S.QUEUED


def test_login_page_and_logging_in(client, user):
    assert client.get("/login/").status_code == 200
    bad = client.post("/login/", {"username": "alice", "password": "nope"})
    assert bad.status_code == 200 and client.get("/").status_code == 302
    r = client.post("/login/", {"username": "alice", "password": "alice-pass-123"})
    assert r.status_code == 302 and r["Location"] == "/"
    assert client.get("/").status_code == 200
    r = client.post("/logout/")
    assert r.status_code == 302 and client.get("/").status_code == 302


def test_media_is_no_bare_folder(client, user, media_root):
    """Files under MEDIA_ROOT are served only through views that check who may see them
    (tests/webapp/test_privacy.py): /media/ itself serves nothing, to anyone."""
    (media_root / "experiments" / "1").mkdir(parents=True)
    (media_root / "experiments" / "1" / "a.json").write_text('{"x": 1}')
    assert client.get("/media/experiments/1/a.json").status_code == 404  # no such URL, for anyone
    client.force_login(user)
    assert client.get("/media/experiments/1/a.json").status_code == 404
    assert client.get("/media/../settings.py").status_code in (400, 404)


# --- home and lists -----------------------------------------------------------------

def test_home(web, toy, profiles, user, no_queue):
    running = launch_toy(user)
    Experiment.objects.filter(pk=running.pk).update(status=S.RUNNING, name="the running one", progress=0.4)
    done = make_exp(user, profiles["jetson-nano"], name="the finished one")
    r = web.get("/")
    assert r.status_code == 200
    assert [e.pk for e in r.context["active"]] == [running.pk]
    assert [e.pk for e in r.context["recent"]] == [done.pk]
    t = text(r)
    assert "the running one" in t and "the finished one" in t
    assert "jetson-nano" in t and "New experiment" in t
    assert not re.search(r"""<(script|link)[^>]+(src|href)\s*=\s*["'](https?:)?//""", t)  # no CDN


def test_experiment_list_filters(web, toy, profiles, user, other_user):
    a = make_exp(user, profiles["local-cpu"], name="alpha")
    b = make_exp(other_user, profiles["jetson-nano"], status=S.FAILED, name="bravo", shared=True)
    c = make_exp(user, profiles["jetson-nano"], technique=TOY, name="charlie")
    make_exp(other_user, profiles["jetson-nano"], status=S.FAILED, name="delta")  # bob's private one

    def ids(q=""):
        r = web.get("/experiments/" + q)
        assert r.status_code == 200
        return sorted(e.pk for e in r.context["page"].object_list)

    assert ids() == sorted([a.pk, b.pk, c.pk])
    assert ids(f"?technique={TOY}") == [c.pk]
    assert ids("?status=failed") == [b.pk]
    assert ids("?hardware=jetson-nano") == sorted([b.pk, c.pk])
    assert ids("?owner=alice&hardware=jetson-nano") == [c.pk]
    assert ids("?technique=&status=&hardware=&owner=") == sorted([a.pk, b.pk, c.pk])
    t = text(web.get("/experiments/?status=failed"))
    assert "bravo" in t and "alpha" not in t and "delta" not in t


# --- new experiment -----------------------------------------------------------------

def _field_names(t: str) -> set[str]:
    return set(re.findall(r'name="([^"]+)"', t))


@pytest.mark.parametrize("technique", techniques.names())
def test_new_experiment_form_renders_every_config_field(web, profiles, technique):
    r = web.get(f"/experiments/new/?technique={technique}")
    assert r.status_code == 200
    t = text(r)
    names = _field_names(t)
    assert {"technique", "hardware", "name"} <= names
    tech = techniques.get(technique)
    for spec in tech.config_cls.specs():
        assert f"cfg-{spec.name}" in names, spec.name
        assert html.escape(spec.label) in t or spec.label in t, spec.label
        assert html.escape(spec.help) in t, spec.name
    assert tech.title in t
    # the hardware menu lists every profile, local-cpu chosen by default
    assert r.context["form"]["hardware"].value() == "local-cpu"
    for slug in profiles:
        assert f'value="{slug}"' in t


def test_new_experiment_form_shows_defaults_and_bounds(web, profiles, toy):
    t = text(web.get(f"/experiments/new/?technique={TOY}"))
    n = re.search(r'<input[^>]+name="cfg-n"[^>]*>', t).group(0)
    assert 'value="4"' in n and 'min="0"' in n and 'max="50"' in n
    mode = re.search(r'<select[^>]+name="cfg-mode".*?</select>', t, re.S).group(0)
    assert re.search(r'<option value="ok"\s+selected>', mode) and 'value="boom"' in mode
    assert re.search(r'<input[^>]+name="cfg-artifact"[^>]+checked', t)
    # the default hardware can be chosen in the link
    r = web.get(f"/experiments/new/?technique={TOY}&hardware=jetson-nano")
    assert r.context["form"]["hardware"].value() == "jetson-nano"


def test_new_experiment_settings_partial(web, profiles, toy):
    for name in techniques.names():
        r = web.get(f"/experiments/new/settings/?technique={name}")
        assert r.status_code == 200
        t = text(r)
        assert t.lstrip().startswith('<div id="config-form">') and "<html" not in t
        assert {f"cfg-{s.name}" for s in techniques.get(name).config_cls.specs()} <= _field_names(t)
    assert web.get("/experiments/new/settings/?technique=alchemy").status_code == 404
    assert web.get("/experiments/new/settings/").status_code == 404


def _zoo_post(**over):
    data = {"technique": "model-zoo", "hardware": "local-cpu", "name": "from the form",
            "cfg-models": ["squeezenet1_1"], "cfg-widths": "1.0", "cfg-resolutions": "32", "cfg-dataset": "mnist-5k",
            "cfg-train_epochs": "0", "cfg-latency_repeats": "2", "cfg-latency_warmup": "1", "cfg-optimizer": "adamw"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def _errors_near(t: str, field: str) -> list[str]:
    """The inline error messages of the field block holding the input named ``field``."""
    for block in re.split(r'<div class="field[ "]', t)[1:]:
        if f'name="{field}"' in block:
            return re.findall(r'<div class="error">(.*?)</div>', block, re.S)
    raise AssertionError(f"no field {field} on the page")


@pytest.mark.parametrize("over,field", [
    ({"cfg-train_epochs": "-5"}, "cfg-train_epochs"),         # caught by the form (min)
    ({"cfg-train_epochs": "many"}, "cfg-train_epochs"),       # caught by the form (type)
    ({"cfg-lr": "5"}, "cfg-lr"),                              # max 1.0
    ({"cfg-models": ["resnet18", "lenet"]}, "cfg-models"),    # not a choice
    ({"cfg-optimizer": "rmsprop"}, "cfg-optimizer"),
    ({"cfg-widths": "0.01"}, "cfg-widths"),                   # caught by the service, shown inline
    ({"cfg-resolutions": "32, 8"}, "cfg-resolutions"),
    ({"cfg-widths": "0.5", "cfg-models": ["resnet18"]}, "cfg-widths"),  # cross-field check
    ({"hardware": "abacus"}, "hardware"),
    ({"name": "n" * 201}, "name"),
])
def test_new_experiment_bad_values_rerender_inline(web, profiles, no_queue, over, field):
    before = db_counts()
    r = web.post("/experiments/new/", _zoo_post(**over))
    assert r.status_code == 200
    errs = _errors_near(text(r), field)
    assert errs, f"no inline error for {field}"
    assert db_counts() == before and no_queue == []
    # what the user typed is kept
    if field == "cfg-widths" and over.get("cfg-widths") == "0.01":
        assert 'value="0.01"' in text(r)


def test_new_experiment_several_errors_at_once(web, profiles, no_queue):
    r = web.post("/experiments/new/", _zoo_post(**{"cfg-train_epochs": "-1", "cfg-lr": "9", "hardware": "abacus"}))
    t = text(r)
    for f in ("cfg-train_epochs", "cfg-lr", "hardware"):
        assert _errors_near(t, f), f
    assert not Experiment.objects.exists()


def test_new_experiment_good_post_redirects_to_detail(web, profiles, user, no_queue,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = web.post("/experiments/new/", _zoo_post())
    exp = Experiment.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/experiments/{exp.pk}/"
    assert exp.owner == user and exp.status == S.QUEUED and exp.name == "from the form"
    assert exp.config["models"] == ["squeezenet1_1"] and exp.config["widths"] == [1.0]
    assert exp.config["train_epochs"] == 0 and exp.config["batch_size"] == 64  # left empty: the default
    assert no_queue == [exp.pk]


def test_new_experiment_empty_fields_take_defaults(web, profiles, toy, no_queue):
    r = web.post("/experiments/new/", {"technique": TOY, "hardware": "local-cpu", "cfg-n": "", "cfg-mode": "boom"})
    assert r.status_code == 302
    e = Experiment.objects.get()
    assert e.config == {"n": 4, "mode": "boom", "artifact": False}  # an unticked box is False


# --- experiment detail --------------------------------------------------------------

def test_detail_page(web, exp):
    r = web.get(f"/experiments/{exp.pk}/")
    assert r.status_code == 200
    t = text(r)
    assert 'id="status"' in t and 'data-status="succeeded"' in t
    assert f'data-url="/experiments/{exp.pk}/plot.json"' in t
    assert f"/experiments/{exp.pk}/candidates/" in t and f"/experiments/{exp.pk}/series.json" in t
    assert "four nets" in t and "local-cpu" in t
    assert (r.context["x"], r.context["y"]) == ("latency_ms", "accuracy")
    assert [m for m, _ in r.context["metrics"]] == ["latency_ms", "accuracy", "params"]
    # every setting is shown with its label
    for spec in techniques.get("model-zoo").config_cls.specs():
        assert f'title="{spec.name}"' in t
    assert "/static/vendor/plotly-strict.min.js" in t
    assert not re.search(r"""<script[^>]+src\s*=\s*["'](https?:)?//""", t)
    assert web.get(f"/experiments/{exp.pk + 99}/").status_code == 404


def test_detail_of_a_failed_run_shows_the_error(web, toy, profiles, user, no_queue):
    e = services.experiment_execute(experiment_id=launch_toy(user, mode="boom").pk)
    t = text(web.get(f"/experiments/{e.pk}/"))
    assert "Why it failed" in t and "toy exploded on purpose" in t
    s = text(web.get(f"/experiments/{e.pk}/status/"))
    assert 'data-status="failed"' in s and "toy exploded on purpose" in s and "<html" not in s


def test_status_partial_polls_only_while_active(web, toy, user, profiles, no_queue):
    e = launch_toy(user)
    Experiment.objects.filter(pk=e.pk).update(status=S.RUNNING, progress=0.37, message="half way there")
    t = text(web.get(f"/experiments/{e.pk}/status/"))
    assert 'hx-trigger="every 1s"' in t and 'aria-valuenow="37"' in t and "half way there" in t
    Experiment.objects.filter(pk=e.pk).update(status=S.SUCCEEDED, progress=1.0)
    t = text(web.get(f"/experiments/{e.pk}/status/"))
    assert "hx-trigger" not in t and 'aria-valuenow="100"' in t


def test_plot_json(web, exp):
    r = web.get(f"/experiments/{exp.pk}/plot.json")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "succeeded" and body["count"] == 4
    traces = body["figure"]["data"]
    assert traces[0]["x"] == [5.0, 1.5, 12.0, 3.0] and traces[0]["y"] == [0.8, 0.6, 0.9, 0.55]
    front = traces[1]
    assert front["x"] == [1.5, 5.0, 12.0] and front["y"] == [0.6, 0.8, 0.9]  # sorted along x
    assert [c[0] for c in front["customdata"]] == [1, 0, 2]  # candidate indices, for the click
    assert "Latency" in body["figure"]["layout"]["xaxis"]["title"]["text"]
    r = web.get(f"/experiments/{exp.pk}/plot.json?x=params&y=latency_ms")
    assert r.json()["figure"]["data"][0]["x"] == [3000, 1000, 9000, 2000]
    assert r.json()["figure"]["data"][0]["y"] == [5.0, 1.5, 12.0, 3.0]


def test_plot_json_uses_webgl_for_many_points(web, profiles, user, monkeypatch):
    from webapp import plots

    monkeypatch.setattr(plots, "WEBGL_THRESHOLD", 2)
    e = make_exp(user, profiles["local-cpu"], METRICS)
    assert web.get(f"/experiments/{e.pk}/plot.json").json()["figure"]["data"][0]["type"] == "scattergl"


def test_plot_json_of_a_zoo_run_without_accuracy_uses_the_fallback_axes(web, profiles, user):
    e = make_exp(user, profiles["local-cpu"], [{"latency_ms": 2.0, "params": 10}, {"latency_ms": 1.0, "params": 20}])
    r = web.get(f"/experiments/{e.pk}/plot.json")
    assert r.json()["figure"]["data"][0]["y"] == [10, 20]


def test_series_json(web, toy, profiles, user, no_queue):
    from webapp.models import SeriesPoint

    e = services.experiment_execute(experiment_id=launch_toy(user).pk)
    SeriesPoint.objects.bulk_create([SeriesPoint(experiment=e, name="val_accuracy/a", step=0, value=0.1),
                                     SeriesPoint(experiment=e, name="val_accuracy/b", step=0, value=0.2)])
    body = web.get(f"/experiments/{e.pk}/series.json").json()
    assert body["status"] == "succeeded"
    by_title = {f["title"]: f["figure"] for f in body["figures"]}
    assert sorted(by_title) == ["loss", "val_accuracy"]
    assert by_title["loss"]["data"][0]["x"] == [0, 1, 2, 3] and by_title["loss"]["data"][0]["y"][1] == 0.5
    assert [tr["name"] for tr in by_title["val_accuracy"]["data"]] == ["a", "b"]  # the group is the title


def test_candidates_partial_sorted_and_paged(web, profiles, user):
    many = [{"latency_ms": float(i % 7), "accuracy": i / 40} for i in range(30)]
    e = make_exp(user, profiles["local-cpu"], many)
    r = web.get(f"/experiments/{e.pk}/candidates/")
    assert r.status_code == 200 and "<html" not in text(r)
    assert [c.index for c in r.context["page"]] == list(range(25))
    r = web.get(f"/experiments/{e.pk}/candidates/?page=2")
    assert [c.index for c in r.context["page"]] == list(range(25, 30))
    r = web.get(f"/experiments/{e.pk}/candidates/?ordering=-accuracy")
    assert [c.index for c in r.context["page"]][:3] == [29, 28, 27]
    assert r.context["ordering"] == "-accuracy" and "▼" in text(r)
    r = web.get(f"/experiments/{e.pk}/candidates/?ordering=latency_ms&page=1")
    lat = [c.metrics["latency_ms"] for c in r.context["page"]]
    assert lat == sorted(lat) and lat[0] == 0.0
    r = web.get(f"/experiments/{e.pk}/candidates/?ordering=nonsense")
    assert r.status_code == 200 and r.context["ordering"] == "index"
    r = web.get(f"/experiments/{e.pk}/candidates/?front=1")
    assert all(c.on_front for c in r.context["page"]) and r.context["page"].paginator.count >= 1
    assert web.get(f"/experiments/{e.pk}/candidates/?page=zzz").status_code == 200


def test_candidate_detail_with_block_table(web, profiles, user):
    e = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1.5, "accuracy": 0.5, "latency_source": "roofline"}],
                 archs=[{"model": "mbv2", "width": 1.0, "kernels": [3, 5, 7], "expands": [1, 4, 6],
                         "skip": [True, False]}])
    r = web.get(f"/experiments/{e.pk}/candidates/0/")
    assert r.status_code == 200
    blocks = r.context["blocks"]
    # one column per per-block list (jsonb may reorder keys), one row per block
    columns = {c: [row[i] for row in blocks["rows"]] for i, c in enumerate(blocks["cols"])}
    assert columns == {"kernels": [3, 5, 7], "expands": [1, 4, 6]}
    t = text(r)
    assert "<th>kernels</th>" in t and "<th>expands</th>" in t
    assert re.search(r"<td>2</td>(<td>7</td><td>6</td>|<td>6</td><td>7</td>)", t.replace("\n", ""))
    assert "mbv2" in t and "an estimate, not a measurement" in t
    assert web.get(f"/experiments/{e.pk}/candidates/5/").status_code == 404


def test_candidate_detail_with_a_list_of_block_dicts(web, profiles, user):
    e = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1.0}],
                 archs=[{"blocks": [{"k": 3, "e": 4}, {"k": 5, "e": 6, "se": True}]}])
    r = web.get(f"/experiments/{e.pk}/candidates/0/")
    assert r.context["blocks"] == {"cols": ["e", "k", "se"], "rows": [[4, 3, None], [6, 5, True]], "diagram": None}


def test_candidate_detail_lists_its_artifacts(web, toy, profiles, user, no_queue, media_root):
    e = services.experiment_execute(experiment_id=launch_toy(user).pk)
    t = text(web.get(f"/experiments/{e.pk}/candidates/0/"))
    assert "toy0.json" in t and f"/experiments/{e.pk}/files/" in t
    assert "toy0.json" not in text(web.get(f"/experiments/{e.pk}/candidates/1/"))
    # and the gallery of the experiment page
    assert "toy0.json" in text(web.get(f"/experiments/{e.pk}/"))


# --- cancel / delete / rerun --------------------------------------------------------

class TestManageButtons:
    def test_owner_sees_cancel_others_do_not(self, client, toy, profiles, user, other_user, staff, no_queue):
        e = launch_toy(user)
        Experiment.objects.filter(pk=e.pk).update(shared=True)  # so that bob sees the page at all
        for who, sees in ((user, True), (other_user, False), (staff, True)):
            client.force_login(who)
            t = text(client.get(f"/experiments/{e.pk}/"))
            assert ('id="cancel-btn"' in t) is sees, who
            assert "experiments/%d/delete/" % e.pk not in t  # active: no delete

    def test_delete_button_only_for_owner_of_a_finished_one(self, client, profiles, user, other_user):
        e = make_exp(user, profiles["local-cpu"], shared=True)
        client.force_login(other_user)
        assert f"/experiments/{e.pk}/delete/" not in text(client.get(f"/experiments/{e.pk}/"))
        client.force_login(user)
        assert f"/experiments/{e.pk}/delete/" in text(client.get(f"/experiments/{e.pk}/"))

    def test_cancel(self, client, toy, profiles, user, other_user, no_queue):
        e = launch_toy(user)
        client.force_login(other_user)
        assert client.post(f"/experiments/{e.pk}/cancel/").status_code == 404  # private: bob cannot see it
        Experiment.objects.filter(pk=e.pk).update(shared=True)
        r = client.post(f"/experiments/{e.pk}/cancel/", follow=True)
        assert "Only the owner" in text(r)
        assert Experiment.objects.get(pk=e.pk).status == S.QUEUED
        client.force_login(user)
        r = client.post(f"/experiments/{e.pk}/cancel/")
        assert r.status_code == 302 and r["Location"] == f"/experiments/{e.pk}/"
        assert Experiment.objects.get(pk=e.pk).status == S.CANCELLED
        assert client.get(f"/experiments/{e.pk}/cancel/").status_code == 405

    def test_cancel_with_htmx_returns_the_status_partial(self, web, toy, user, profiles, no_queue):
        e = launch_toy(user)
        r = web.post(f"/experiments/{e.pk}/cancel/", HTTP_HX_REQUEST="true")
        assert r.status_code == 200 and 'data-status="cancelled"' in text(r) and "<html" not in text(r)

    def test_delete(self, client, toy, profiles, user, other_user, no_queue, media_root):
        e = services.experiment_execute(experiment_id=launch_toy(user).pk)
        Experiment.objects.filter(pk=e.pk).update(shared=True)
        path = media_root / e.artifacts.get().file.name
        client.force_login(other_user)
        client.post(f"/experiments/{e.pk}/delete/")
        assert Experiment.objects.filter(pk=e.pk).exists() and path.exists()
        client.force_login(user)
        r = client.post(f"/experiments/{e.pk}/delete/")
        assert r.status_code == 302 and r["Location"] == "/"
        assert not Experiment.objects.filter(pk=e.pk).exists() and not path.exists()

    def test_delete_running_is_refused(self, web, profiles, user):
        e = make_exp(user, profiles["local-cpu"], status=S.RUNNING)
        r = web.post(f"/experiments/{e.pk}/delete/", follow=True)
        assert "cancel it first" in text(r) and Experiment.objects.filter(pk=e.pk).exists()

    def test_rerun(self, web, profiles, other_user, user, no_queue):
        e = make_exp(other_user, profiles["jetson-nano"], name="again", shared=True)
        r = web.post(f"/experiments/{e.pk}/rerun/")
        new = Experiment.objects.exclude(pk=e.pk).get()
        assert r["Location"] == f"/experiments/{new.pk}/"
        assert new.owner == user and new.status == S.QUEUED and new.config == e.config
        assert new.hardware.slug == "jetson-nano" and new.name == "again"


# --- compare --------------------------------------------------------------------

def test_compare_two_experiments_with_a_constraint(web, profiles, user):
    a = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1, "accuracy": 0.5}, {"latency_ms": 2, "accuracy": 0.8},
                                              {"latency_ms": 4, "accuracy": 0.9}], name="exp-a")
    b = make_exp(user, profiles["jetson-nano"], [{"latency_ms": 3, "accuracy": 0.6},
                                                {"latency_ms": 5, "accuracy": 0.95},
                                                {"latency_ms": 6, "accuracy": 0.4}], name="exp-b")
    r = web.get(f"/compare/?ids={a.pk}&ids={b.pk}&x=latency_ms&y=accuracy&constraint=latency_ms+<%3D+3.5")
    assert r.status_code == 200
    data = r.context["data"]
    assert data["reference"] == (6.0, 0.4)
    hv = {s["experiment"].pk: s["hypervolume"] for s in data["series"]}
    assert hv[a.pk] == pytest.approx(1.9) and hv[b.pk] == pytest.approx(0.95)
    best = {s["experiment"].pk: s["best"].index for s in data["series"]}
    assert best == {a.pk: 1, b.pk: 0}
    t = text(r)
    assert "exp-a" in t and "exp-b" in t and 'id="compare-table"' in t
    assert "latency_ms &lt;= 3.5" in t
    assert f"/experiments/{a.pk}/candidates/1/" in t  # the best candidate, linked
    fig = r.context["figure"]
    assert len(fig["data"]) == 3  # two fronts and the reference point
    assert sorted(tr["name"].split("(HV ")[1] for tr in fig["data"][:2]) == ["0.95)", "1.9)"]
    assert r.context["error"] == ""


def test_compare_bad_constraint_shows_an_error(web, profiles, user):
    a = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1, "accuracy": 0.5}])
    r = web.get(f"/compare/?ids={a.pk}&constraint=latency+is+small")
    assert r.status_code == 200
    assert "cannot read" in r.context["error"]
    t = text(r)
    assert 'class="field has-error"' in t and "cannot read" in t
    assert r.context["data"]["series"][0]["best"].index == 0  # no constraint applied


def test_compare_page_without_choice_lists_experiments(web, profiles, user):
    a = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1, "accuracy": 0.5}], name="pickme")
    make_exp(user, profiles["local-cpu"], [], name="empty one")
    r = web.get("/compare/?ids=abc")
    assert r.status_code == 200 and r.context["data"] is None
    assert [e.pk for e in r.context["all"]] == [a.pk]
    assert "pickme" in text(r)


# --- hardware pages ---------------------------------------------------------------

def _hw_post(**over):
    data = {"slug": "my-board", "title": "My board", "kind": "embedded-gpu", "memory_bandwidth_gbs": "25.6",
            "onchip_memory_kb": "512", "memory_capacity_mb": "4096", "storage_mb": "0", "layer_overhead_us": "10",
            "cores": "4", "peak_fp32": "50", "peak_int8": "200", "source": "datasheet", "notes": ""}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def test_hardware_list_and_detail(web, profiles, user):
    r = web.get("/hardware/")
    assert r.status_code == 200
    t = text(r)
    for slug in profiles:
        assert f"/hardware/{slug}/" in t
    r = web.get("/hardware/jetson-nano/")
    assert r.status_code == 200 and not r.context["can_edit"]
    assert profiles["jetson-nano"].title in text(r)
    assert web.get("/hardware/no-such/").status_code == 404


def test_hardware_new(web, profiles, user):
    assert web.get("/hardware/new/").status_code == 200
    r = web.post("/hardware/new/", _hw_post())
    assert r.status_code == 302 and r["Location"] == "/hardware/my-board/"
    hw = HardwareProfile.objects.get(slug="my-board")
    assert hw.owner == user and hw.peak_gmacs == {"fp32": 50.0, "int8": 200.0} and hw.cores == 4
    assert web.get("/hardware/my-board/").context["can_edit"]


@pytest.mark.parametrize("over,field", [
    ({"memory_bandwidth_gbs": "-1"}, "memory_bandwidth_gbs"),
    ({"memory_bandwidth_gbs": "abc"}, "memory_bandwidth_gbs"),
    ({"memory_capacity_mb": "1e30"}, "memory_capacity_mb"),
    ({"peak_fp32": None}, "peak_fp32"),
    ({"peak_int8": "-3"}, "peak_int8"),
    ({"cores": "0"}, "cores"),
    ({"kind": "toaster"}, "kind"),
    ({"title": "t" * 201}, "title"),
    ({"slug": "bad slug!"}, "slug"),
    ({"slug": "local-cpu"}, "slug"),
])
def test_hardware_new_errors_inline(web, profiles, over, field):
    before = db_counts()
    r = web.post("/hardware/new/", _hw_post(**over))
    assert r.status_code == 200
    assert _errors_near(text(r), field), field
    assert db_counts() == before


def test_hardware_edit(client, profiles, user, other_user, staff):
    services.hardware_profile_create(owner=user, slug="my-board", data=GOOD_HW)
    client.force_login(user)
    r = client.get("/hardware/my-board/edit/")
    assert r.status_code == 200 and 'value="25.6"' in text(r)
    r = client.post("/hardware/my-board/edit/", _hw_post(slug="renamed-slug", title="Edited", memory_bandwidth_gbs="30"))
    assert r.status_code == 302
    hw = HardwareProfile.objects.get(slug="my-board")  # the slug cannot be changed
    assert hw.title == "Edited" and hw.memory_bandwidth_gbs == 30
    r = client.post("/hardware/my-board/edit/", _hw_post(memory_bandwidth_gbs="-2", title="Nope"))
    assert r.status_code == 200 and _errors_near(text(r), "memory_bandwidth_gbs")
    assert HardwareProfile.objects.get(slug="my-board").title == "Edited"
    # someone else cannot
    client.force_login(other_user)
    r = client.post("/hardware/my-board/edit/", _hw_post(title="Bob's now"))
    assert r.status_code == 200 and "Only the owner" in text(r)
    assert HardwareProfile.objects.get(slug="my-board").title == "Edited"


def test_builtin_hardware_edit_needs_staff(client, profiles, user, staff):
    client.force_login(user)
    r = client.post("/hardware/jetson-nano/edit/", _hw_post(title="Hacked"))
    assert r.status_code == 200 and "staff" in text(r)
    assert HardwareProfile.objects.get(slug="jetson-nano").title != "Hacked"
    client.force_login(staff)
    assert client.get("/hardware/jetson-nano/").context["can_edit"]
    r = client.post("/hardware/jetson-nano/edit/", _hw_post(title="Checked"))
    assert r.status_code == 302 and HardwareProfile.objects.get(slug="jetson-nano").title == "Checked"


def test_compare_shows_each_best_architecture_and_its_sources(web, profiles, user):
    """The same search on two profiles: the table names each best network block
    by block, so a different architecture per profile is visible at a glance."""
    def arch(res, blocks):
        return {"resolution": res, "depths": [len(blocks)], "kernels": [b[0] for b in blocks],
                "expands": [b[1] for b in blocks],
                "blocks": [{"stage": 1 + i // 2, "kernel": k, "expand": e, "width": 16, "stride": 1}
                           for i, (k, e) in enumerate(blocks)], "space": "mbconv"}
    a = make_exp(user, profiles["local-cpu"], [{"latency_ms": 2.0, "accuracy": 0.97, "latency_source": "measured",
                                                "accuracy_source": "fine-tuned"}],
                 archs=[arch(28, [(7, 4), (5, 6.0), (3, 3)])], name="on-cpu")
    b = make_exp(user, profiles["jetson-nano"], [{"latency_ms": 0.5, "accuracy": 0.96, "latency_source": "roofline",
                                                  "accuracy_source": "predictor"}],
                 archs=[arch(24, [(3, 6), (3, 6)])], name="on-nano")
    r = web.get(f"/compare/?ids={a.pk}&ids={b.pk}")
    t = text(r)
    assert "<code>28px k7e4 k5e6 | k3e3</code>" in t and "<code>24px k3e6 k3e6</code>" in t
    assert "roofline (estimate), predictor (estimate)" in t and "measured, fine-tuned" in t
    hover = [tr["customdata"][0][1] for tr in r.context["figure"]["data"][:2]]
    assert sorted(hover) == ["24px k3e6 k3e6", "28px k7e4 k5e6 | k3e3"]


def test_summary_shows_scalars_and_short_lists_and_points_to_nested_figures(web, profiles, user):
    hw = HardwareProfile.objects.get(slug="local-cpu")
    exp = make_exp(user, hw, [{"accuracy": 0.5}], summary={"message": "done", "metrics": {
        "acc_mixed": 0.73, "acc_mixed_per_seed": [0.71, 0.73, 0.75], "per_seed": {"psnr": [25.1, 25.3]},
        "long": list(range(20))}})
    page = web.get(f"/experiments/{exp.pk}/").content.decode()
    summary = page[page.index("<h2>Summary</h2>"):page.index("</section>", page.index("<h2>Summary</h2>"))]
    assert "0.71, 0.73, 0.75" in summary and "0.73" in summary
    assert "{" not in summary and "psnr" not in summary  # no raw dict on the page
    nested = re.search(r"Nested figures \(([^)]*)\)", summary)
    assert nested and set(nested.group(1).split(", ")) == {"per_seed", "long"}
    assert f"/api/experiments/{exp.pk}/" in summary


def test_haq_cross_hardware_table_gives_both_verdicts(web, profiles, user):
    hw = HardwareProfile.objects.get(slug="local-cpu")
    row = {"profile": "bitfusion-wide", "own_ms": 0.0888, "own_acc": 0.755, "other": "bitfusion-narrow",
           "other_ms": 0.0919, "other_acc": 0.761, "rival_ms": None, "rival_screen_acc": None, "rival_acc": None,
           "own_fastest": True, "screen_disagrees": False, "beaten_by": [], "other_within_budget": False,
           "rival_within_budget": None, "beaten_at_budget_by": [], "own_best_at_budget": True}
    narrow = {**row, "profile": "bitfusion-narrow", "other": "bitfusion-wide", "own_ms": 0.650, "own_acc": 0.761,
              "other_ms": 0.607, "other_acc": 0.755, "own_fastest": False, "beaten_by": ["other"],
              "other_within_budget": True}
    exp = make_exp(user, hw, [{"accuracy": 0.5}], summary={"message": "done", "metrics": {
        "cross_hardware": [row, narrow], "own_policy_fastest": False, "own_policy_best_at_budget": True}})
    page = web.get(f"/experiments/{exp.pk}/").content.decode()
    table = page[page.index('id="cross-hardware"'):]
    table = table[:table.index("</section>")]
    cells = re.findall(r"<tr><td>(bitfusion-\w+)</td>(.*?)</tr>", table, re.S)
    by = {name: rest for name, rest in cells}
    # narrow: the wide profile's policy is faster and within a point (matched-accuracy verdict: no), but meets
    # narrow's budget and tests less accurate (at-budget verdict: yes)
    assert "<b>no</b>: bitfusion-wide's policy is faster here" in by["bitfusion-narrow"]
    assert "meets the budget here" in by["bitfusion-narrow"]
    assert "breaks the budget here" in by["bitfusion-wide"]
    assert by["bitfusion-narrow"].count("yes") == 1 and by["bitfusion-wide"].count("yes") == 2
    assert "tie" not in table
    # both searches on one policy: a tie on the page, not a win
    exp.summary["metrics"]["cross_hardware"] = [{**row, "same_policy": True}, {**narrow, "same_policy": True}]
    exp.save(update_fields=["summary"])
    table = web.get(f"/experiments/{exp.pk}/").content.decode().split('id="cross-hardware"')[1].split("</section>")[0]
    assert table.count("both searches chose the same policy") == 2 and "<td>yes" not in table


def test_a_finished_runs_settings_say_what_its_seed_fixes(web, profiles, user):
    hw = HardwareProfile.objects.get(slug="jetson-nano")
    exp = make_exp(user, hw, [{"latency_ms": 1.0, "latency_source": "roofline"},
                              {"cpu_int8_latency_ms": 3.0, "cpu_int8_latency_source": "measured"}])
    page = web.get(f"/experiments/{exp.pk}/").content.decode()
    settings = page[page.index("<h2>Settings</h2>"):]
    note = re.search(r'<p class="small muted" id="reproducibility">([^<]*)</p>', settings[:settings.index("</section>")])
    assert note and html.unescape(note.group(1)).startswith(
        "Reproducible: the seed fixes this run's results on this machine and library versions, except what depends "
        "on measured latency: cpu_int8_latency_ms")
    running = make_exp(user, hw, [{"latency_ms": 1.0}], status=Experiment.Status.RUNNING)
    assert 'id="reproducibility"' not in web.get(f"/experiments/{running.pk}/").content.decode()
