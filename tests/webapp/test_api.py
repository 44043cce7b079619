"""The REST API: auth, hardware CRUD, experiments, candidates, series,
artifacts, the technique catalogue and the OpenAPI schema."""
from __future__ import annotations

import json
import re

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from engine import techniques
from tests.conftest import SMOKE_ZOO
from tests.webapp.test_services import (GOOD_HW, TOY, db_counts, fast_hashing, launch_toy, make_exp,  # noqa: F401
                                        toy)
from webapp import services
from webapp.models import Experiment, HardwareProfile

S = Experiment.Status
pytestmark = pytest.mark.django_db


def _post(api, url, body):
    return api.post(url, json.dumps(body), content_type="application/json")


# --- auth -----------------------------------------------------------------------

@pytest.mark.parametrize("method,url", [
    ("get", "/api/experiments/"), ("post", "/api/experiments/"), ("get", "/api/hardware/"),
    ("post", "/api/hardware/"), ("get", "/api/techniques/"), ("get", "/api/experiments/1/candidates/"),
])
def test_anonymous_is_refused(profiles, method, url):
    before = db_counts()
    r = getattr(APIClient(), method)(url, {"technique": "model-zoo", "hardware": "local-cpu"}, format="json")
    assert r.status_code in (401, 403)
    assert db_counts() == before


def test_token_auth(profiles, user):
    c = APIClient()
    r = c.post("/api/token/", {"username": "alice", "password": "alice-pass-123"}, format="json")
    assert r.status_code == 200
    key = r.json()["token"]
    assert Token.objects.get(user=user).key == key
    c.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert c.get("/api/hardware/").status_code == 200
    c.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert c.get("/api/hardware/").status_code in (401, 403)
    bad = APIClient().post("/api/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert bad.status_code == 400


def test_session_auth(client, profiles, user):
    client.force_login(user)
    assert client.get("/api/experiments/").status_code == 200


# --- hardware -------------------------------------------------------------------

class TestHardwareApi:
    def test_list_and_retrieve(self, api, profiles):
        r = api.get("/api/hardware/?limit=100")
        slugs = [p["slug"] for p in r.json()["results"]]
        assert set(slugs) == set(profiles)
        one = api.get("/api/hardware/jetson-nano/").json()
        assert one["builtin"] and one["peak_gmacs"] and one["memory_bandwidth_gbs"] > 0 and one["source"]
        assert api.get("/api/hardware/nope/").status_code == 404

    def test_create_update_delete(self, api, profiles, user):
        r = _post(api, "/api/hardware/", {"slug": "my-board", **GOOD_HW})
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["slug"] == "my-board" and body["owner"] == "alice" and not body["builtin"]
        assert body["peak_gmacs"] == {"fp32": 50.0, "int8": 200.0}
        r = api.patch("/api/hardware/my-board/", {"memory_bandwidth_gbs": 51.2}, format="json")
        assert r.status_code == 200 and r.json()["memory_bandwidth_gbs"] == 51.2
        r = api.put("/api/hardware/my-board/", {**GOOD_HW, "title": "Renamed", "slug": "ignored"}, format="json")
        assert r.status_code == 200 and r.json()["title"] == "Renamed" and r.json()["slug"] == "my-board"
        assert api.delete("/api/hardware/my-board/").status_code == 204
        assert not HardwareProfile.objects.filter(slug="my-board").exists()

    @pytest.mark.parametrize("body,field", [
        ({"memory_bandwidth_gbs": -1}, "memory_bandwidth_gbs"),
        ({"memory_bandwidth_gbs": "lots"}, "memory_bandwidth_gbs"),
        ({"memory_capacity_mb": 1e40}, "memory_capacity_mb"),
        ({"peak_gmacs": {"fp8": 3}}, "peak_gmacs"),
        ({"peak_gmacs": "fast"}, "peak_gmacs"),
        ({"cores": -2}, "cores"),
        ({"cores": "four"}, "cores"),
        ({"kind": "toaster"}, "kind"),
        ({"title": "t" * 500}, "title"),
        ({"title": None}, "title"),
        ({"notes": "n" * 6000}, "notes"),
        ({"bit_flexible": "maybe"}, "bit_flexible"),
        ({"slug": ""}, "slug"),
        ({"slug": "has space"}, "slug"),
        ({"slug": "s" * 61}, "slug"),
        ({"slug": "café"}, "slug"),
        ({"slug": "local-cpu"}, "slug"),
        ({"builtin": True}, "builtin"),
        ({"owner": "bob"}, "owner"),
    ])
    def test_create_400_names_the_field_and_creates_nothing(self, api, profiles, body, field):
        before = db_counts()
        r = _post(api, "/api/hardware/", {"slug": "new-board", **GOOD_HW, **body})
        assert r.status_code == 400, r.content
        assert field in r.json()["errors"], r.json()
        assert r.json()["errors"][field]
        assert db_counts() == before

    def test_create_non_object_body(self, api, profiles):
        before = db_counts()
        r = _post(api, "/api/hardware/", ["slug", "x"])
        assert r.status_code == 400 and "object" in r.json()["detail"]
        assert db_counts() == before

    def test_permissions(self, api, profiles, other_user, staff):
        assert api.patch("/api/hardware/jetson-nano/", {"title": "mine"}, format="json").status_code == 403
        assert api.delete("/api/hardware/jetson-nano/").status_code in (400, 403)
        assert HardwareProfile.objects.get(slug="jetson-nano").title != "mine"
        services.hardware_profile_create(owner=other_user, slug="bobs", data=GOOD_HW)
        assert api.patch("/api/hardware/bobs/", {"title": "mine"}, format="json").status_code == 403
        assert api.delete("/api/hardware/bobs/").status_code == 403
        assert HardwareProfile.objects.filter(slug="bobs", title="My board").exists()
        s = APIClient()
        s.force_authenticate(staff)
        assert s.patch("/api/hardware/bobs/", {"title": "Fixed"}, format="json").status_code == 200
        assert s.delete("/api/hardware/bobs/").status_code == 204

    def test_bad_update_changes_nothing(self, api, profiles, user):
        services.hardware_profile_create(owner=user, slug="mine", data=GOOD_HW)
        r = api.patch("/api/hardware/mine/", {"memory_bandwidth_gbs": 0, "title": "x"}, format="json")
        assert r.status_code == 400 and "memory_bandwidth_gbs" in r.json()["errors"]
        assert HardwareProfile.objects.get(slug="mine").title == "My board"


def test_hardware_serializers_are_generated_from_the_engine_profile():
    import dataclasses

    from engine.hardware.profile import HardwareProfile as EngineProfile
    from webapp.api.serializers import HardwareProfileInput, HardwareProfileSerializer

    editable = [f.name for f in dataclasses.fields(EngineProfile) if f.metadata["editable"]]
    fields = HardwareProfileInput().fields
    assert list(fields) == ["slug", *editable]
    assert fields["title"].required and not fields["memory_bandwidth_gbs"].required  # the engine has a default
    assert fields["notes"].max_length == EngineProfile.__dataclass_fields__["notes"].metadata["max_length"]
    assert set(editable) | {"slug", "measurable"} <= set(HardwareProfileSerializer.Meta.fields)
    assert "lookup_table" not in HardwareProfileSerializer.Meta.fields


def test_lookup_table_size_is_checked_once_by_the_service(api, client, user, profiles, settings):
    import io

    services.hardware_profile_create(owner=user, slug="tiny", data=GOOD_HW)
    settings.FRONTIER_MAX_LUT_UPLOAD = 10
    big = b'{"entries": {"a": 1}, "meta": {}}'
    r = api.post("/api/hardware/tiny/lookup-table/", {"file": io.BytesIO(big)}, format="multipart")
    assert r.status_code == 400 and "over the 0 MB limit" in r.json()["errors"]["file"]
    client.force_login(user)
    page = client.post("/hardware/tiny/lookup-table/", {"file": io.BytesIO(big)}, follow=True)
    assert b"Lookup table too large." in page.content
    assert HardwareProfile.objects.get(slug="tiny").lookup_table is None


# --- experiments ----------------------------------------------------------------

GOOD_EXP = {"technique": "model-zoo", "hardware": "local-cpu", "config": SMOKE_ZOO, "name": "api run"}

BAD_BODIES = [
    ("non-object body", ["model-zoo"], None),
    ("a string body", "model-zoo", None),
    ("missing technique", {"hardware": "local-cpu"}, "technique"),
    ("empty technique", {**GOOD_EXP, "technique": ""}, "technique"),
    ("technique not text", {**GOOD_EXP, "technique": ["model-zoo"]}, "technique"),
    ("unknown technique", {**GOOD_EXP, "technique": "alchemy"}, "technique"),
    ("missing hardware", {"technique": "model-zoo"}, "hardware"),
    ("hardware not text", {**GOOD_EXP, "hardware": 3}, "hardware"),
    ("unknown hardware", {**GOOD_EXP, "hardware": "abacus"}, "hardware"),
    ("unknown top-level field", {**GOOD_EXP, "priority": 1}, "priority"),
    ("config not an object", {**GOOD_EXP, "config": [1, 2]}, "config"),
    ("config a string", {**GOOD_EXP, "config": "fast"}, "config"),
    ("unknown config key", {**GOOD_EXP, "config": {**SMOKE_ZOO, "epochz": 3}}, "config.epochz"),
    ("int as text", {**GOOD_EXP, "config": {**SMOKE_ZOO, "train_epochs": "two"}}, "config.train_epochs"),
    ("int as float", {**GOOD_EXP, "config": {**SMOKE_ZOO, "train_epochs": 1.5}}, "config.train_epochs"),
    ("int as bool", {**GOOD_EXP, "config": {**SMOKE_ZOO, "batch_size": True}}, "config.batch_size"),
    ("int as list", {**GOOD_EXP, "config": {**SMOKE_ZOO, "batch_size": [8]}}, "config.batch_size"),
    ("float as text", {**GOOD_EXP, "config": {**SMOKE_ZOO, "lr": "quick"}}, "config.lr"),
    ("list as object", {**GOOD_EXP, "config": {**SMOKE_ZOO, "widths": {"a": 1}}}, "config.widths"),
    ("text as number", {**GOOD_EXP, "config": {**SMOKE_ZOO, "optimizer": 3}}, "config.optimizer"),
    ("below min", {**GOOD_EXP, "config": {**SMOKE_ZOO, "train_epochs": -1}}, "config.train_epochs"),
    ("above max", {**GOOD_EXP, "config": {**SMOKE_ZOO, "batch_size": 10 ** 9}}, "config.batch_size"),
    ("float above max", {**GOOD_EXP, "config": {**SMOKE_ZOO, "lr": 1e300}}, "config.lr"),
    ("item below min", {**GOOD_EXP, "config": {**SMOKE_ZOO, "resolutions": [32, 8]}}, "config.resolutions"),
    ("too many items", {**GOOD_EXP, "config": {**SMOKE_ZOO, "widths": [0.5 + i / 10 for i in range(9)]}},
     "config.widths"),
    ("empty multi-choice", {**GOOD_EXP, "config": {**SMOKE_ZOO, "models": []}}, "config.models"),
    ("bad multi-choice item", {**GOOD_EXP, "config": {**SMOKE_ZOO, "models": ["resnet18", "lenet"]}},
     "config.models"),
    ("bad choice", {**GOOD_EXP, "config": {**SMOKE_ZOO, "dataset": "jft-300m"}}, "config.dataset"),
    ("no model has the width", {**GOOD_EXP, "config": {**SMOKE_ZOO, "widths": [0.5]}}, "config.widths"),
    ("too-long name", {**GOOD_EXP, "name": "n" * 201}, "name"),
    ("name not text", {**GOOD_EXP, "name": ["a"]}, "name"),
]


class TestExperimentCreate:
    def test_create_201(self, api, profiles, user, no_queue, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            r = _post(api, "/api/experiments/", GOOD_EXP)
        assert r.status_code == 201, r.content
        body = r.json()
        exp = Experiment.objects.get(pk=body["id"])
        assert body["status"] == "queued" and body["owner"] == "alice" and body["hardware"] == "local-cpu"
        assert body["technique"] == "model-zoo" and body["name"] == "api run" and body["url"] == f"/experiments/{exp.pk}/"
        assert body["config"]["models"] == ["squeezenet1_1"] and body["config"]["lr"] == 0.002
        assert body["hardware_snapshot"]["name"] == "local-cpu"
        assert exp.owner == user and no_queue == [exp.pk]

    def test_defaults_when_config_is_left_out(self, api, profiles, no_queue):
        r = _post(api, "/api/experiments/", {"technique": "model-zoo", "hardware": "jetson-nano"})
        assert r.status_code == 201
        assert r.json()["config"] == techniques.get("model-zoo").parse({}).to_dict()

    @pytest.mark.parametrize("label,body,field", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
    def test_every_invalid_field_gives_400_and_creates_nothing(self, api, profiles, no_queue, label, body, field):
        before = db_counts()
        r = _post(api, "/api/experiments/", body)
        assert r.status_code == 400, (label, r.content)
        data = r.json()
        assert data["detail"]
        if field is None:
            assert "object" in data["detail"]
        else:
            assert field in data["errors"], (label, data)
            assert isinstance(data["errors"][field], str) and data["errors"][field]
        assert db_counts() == before and no_queue == []

    def test_several_bad_fields_are_all_named(self, api, profiles, no_queue):
        r = _post(api, "/api/experiments/", {**GOOD_EXP, "name": "n" * 300, "hardware": "abacus",
                                              "config": {"train_epochs": -1, "lr": "x", "bogus": 1}})
        assert r.status_code == 400
        assert set(r.json()["errors"]) == {"name", "hardware", "config.train_epochs", "config.lr", "config.bogus"}
        assert not Experiment.objects.exists()

    def test_malformed_json(self, api, profiles):
        r = api.post("/api/experiments/", "{not json", content_type="application/json")
        assert r.status_code == 400 and not Experiment.objects.exists()


class TestExperimentReadAndManage:
    def test_list_filters(self, api, toy, profiles, user, other_user):
        a = make_exp(user, profiles["local-cpu"], status=S.SUCCEEDED)
        b = make_exp(other_user, profiles["jetson-nano"], status=S.FAILED, shared=True)
        c = make_exp(user, profiles["jetson-nano"], technique=TOY, status=S.QUEUED)
        make_exp(other_user, profiles["jetson-nano"], status=S.FAILED)  # bob's private one: never listed

        def ids(query=""):
            r = api.get("/api/experiments/" + query)
            assert r.status_code == 200
            return sorted(e["id"] for e in r.json()["results"])

        assert ids() == sorted([a.pk, b.pk, c.pk])
        assert ids(f"?technique={TOY}") == [c.pk]
        assert ids("?technique=model-zoo") == sorted([a.pk, b.pk])
        assert ids("?status=failed") == [b.pk]
        assert ids("?hardware=jetson-nano") == sorted([b.pk, c.pk])
        assert ids("?owner=bob") == [b.pk]
        assert ids("?owner=alice&status=queued") == [c.pk]
        assert ids("?status=nonsense") == []
        assert api.get("/api/experiments/?limit=1").json()["count"] == 3

    def test_retrieve(self, api, profiles, other_user):
        e = make_exp(other_user, profiles["local-cpu"], [{"latency_ms": 1.0, "accuracy": 0.5}], name="bob's",
                     shared=True)
        private = make_exp(other_user, profiles["local-cpu"], name="bob's own")
        assert api.get(f"/api/experiments/{private.pk}/").status_code == 404  # private to bob (and staff)
        r = api.get(f"/api/experiments/{e.pk}/")  # shared: anyone logged in may read
        assert r.status_code == 200
        body = r.json()
        assert body["id"] == e.pk and body["owner"] == "bob" and body["candidate_count"] == 1
        assert body["front_objectives"] == [["latency_ms", "min"], ["accuracy", "max"]]
        assert api.get(f"/api/experiments/{e.pk + 999}/").status_code == 404

    def test_cancel_rules(self, api, toy, profiles, user, other_user):
        mine = launch_toy(user)
        theirs = launch_toy(other_user)
        assert api.post(f"/api/experiments/{theirs.pk}/cancel/").status_code == 404  # private: not even seen
        Experiment.objects.filter(pk=theirs.pk).update(shared=True)
        r = api.post(f"/api/experiments/{mine.pk}/cancel/")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        r = api.post(f"/api/experiments/{mine.pk}/cancel/")  # twice: nothing left to cancel
        assert r.status_code == 400 and r.json()["detail"]
        r = api.post(f"/api/experiments/{theirs.pk}/cancel/")
        assert r.status_code == 403
        assert Experiment.objects.get(pk=theirs.pk).status == S.QUEUED
        running = launch_toy(user)
        Experiment.objects.filter(pk=running.pk).update(status=S.RUNNING)
        r = api.post(f"/api/experiments/{running.pk}/cancel/")
        assert r.status_code == 200 and r.json()["status"] == "running" and r.json()["cancel_requested"]

    def test_delete_rules(self, api, profiles, user, other_user, staff):
        mine = make_exp(user, profiles["local-cpu"], [{"latency_ms": 1.0}])
        theirs = make_exp(other_user, profiles["local-cpu"], shared=True)
        running = make_exp(user, profiles["local-cpu"], status=S.RUNNING)
        assert api.delete(f"/api/experiments/{theirs.pk}/").status_code == 403
        assert api.delete(f"/api/experiments/{running.pk}/").status_code == 400
        assert api.delete(f"/api/experiments/{mine.pk}/").status_code == 204
        assert set(Experiment.objects.values_list("pk", flat=True)) == {theirs.pk, running.pk}
        s = APIClient()
        s.force_authenticate(staff)
        assert s.delete(f"/api/experiments/{theirs.pk}/").status_code == 204

    def test_no_update_through_the_api(self, api, profiles, user):
        e = make_exp(user, profiles["local-cpu"])
        assert api.patch(f"/api/experiments/{e.pk}/", {"status": "queued"}, format="json").status_code == 405
        assert Experiment.objects.get(pk=e.pk).status == S.SUCCEEDED


class TestResults:
    @pytest.fixture
    def exp(self, profiles, user):
        return make_exp(user, profiles["local-cpu"], [
            {"latency_ms": 5.0, "accuracy": 0.8}, {"latency_ms": 1.5, "accuracy": 0.6},
            {"latency_ms": 12.0, "accuracy": 0.9}, {"latency_ms": 3.0, "accuracy": 0.55}])

    def test_candidates(self, api, exp):
        r = api.get(f"/api/experiments/{exp.pk}/candidates/")
        assert r.status_code == 200 and r.json()["count"] == 4
        first = r.json()["results"][0]
        assert set(first) >= {"index", "architecture", "metrics", "on_front"}
        front = api.get(f"/api/experiments/{exp.pk}/candidates/?front=1").json()
        assert [c["index"] for c in front["results"]] == [0, 1, 2] and all(c["on_front"] for c in front["results"])
        desc = api.get(f"/api/experiments/{exp.pk}/candidates/?ordering=-latency_ms").json()
        assert [c["metrics"]["latency_ms"] for c in desc["results"]] == [12.0, 5.0, 3.0, 1.5]
        asc = api.get(f"/api/experiments/{exp.pk}/candidates/?ordering=accuracy&front=1").json()
        assert [c["index"] for c in asc["results"]] == [1, 0, 2]
        paged = api.get(f"/api/experiments/{exp.pk}/candidates/?limit=2&offset=2&ordering=index").json()
        assert [c["index"] for c in paged["results"]] == [2, 3] and paged["count"] == 4
        bad = api.get(f"/api/experiments/{exp.pk}/candidates/?ordering=-vibes")
        assert bad.status_code == 400 and "ordering" in bad.json()["errors"]

    def test_series_and_artifacts_of_a_real_toy_run(self, api, client, toy, profiles, user, no_queue, media_root):
        exp = services.experiment_execute(experiment_id=launch_toy(user).pk)
        series = api.get(f"/api/experiments/{exp.pk}/series/").json()
        assert series == {"loss": {"step": [0.0, 1.0, 2.0, 3.0], "value": [1.0, 0.5, 1 / 3, 0.25]}}
        arts = api.get(f"/api/experiments/{exp.pk}/artifacts/").json()
        assert len(arts) == 1
        art = arts[0]
        assert art["kind"] == "json" and art["candidate"] == 0 and art["group"] == "files"
        assert art["url"].startswith(f"/experiments/{exp.pk}/files/") and art["size_bytes"] == 18
        client.force_login(user)
        assert b"".join(client.get(art["url"]).streaming_content) == b'{"hello": "world"}'

    def test_empty_results(self, api, profiles, user):
        e = make_exp(user, profiles["local-cpu"])
        assert api.get(f"/api/experiments/{e.pk}/series/").json() == {}
        assert api.get(f"/api/experiments/{e.pk}/artifacts/").json() == []
        assert api.get(f"/api/experiments/{e.pk}/candidates/").json()["count"] == 0
        assert api.get(f"/api/experiments/{e.pk + 99}/series/").status_code == 404


# --- catalogue and schema --------------------------------------------------------

def test_techniques_catalogue_has_every_schema(api):
    r = api.get("/api/techniques/")
    assert r.status_code == 200
    by_name = {t["name"]: t for t in r.json()}
    assert sorted(by_name) == techniques.names() and by_name
    for name, t in by_name.items():
        specs = techniques.get(name).config_cls.specs()
        schema = t["schema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["properties"]) == {s.name for s in specs}
        for s in specs:
            prop = schema["properties"][s.name]
            assert prop["description"] == s.help and prop["title"] == s.label
            if s.multiple:
                assert prop["type"] == "array" and prop["default"] == list(s.default)
            else:
                assert prop["default"] == s.default
            if s.min is not None:
                assert (prop["items"] if s.multiple else prop)["minimum"] == s.min
        assert t["title"] and t["objectives"] and len(t["axes"]) == 2
    one = api.get("/api/techniques/model-zoo/")
    assert one.status_code == 200 and one.json()["name"] == "model-zoo"
    assert api.get("/api/techniques/alchemy/").status_code == 404


def test_catalogue_includes_a_newly_registered_technique(api, toy):
    names = [t["name"] for t in api.get("/api/techniques/").json()]
    assert TOY in names
    schema = api.get(f"/api/techniques/{TOY}/").json()["schema"]
    assert schema["properties"]["mode"]["enum"] == ["ok", "boom", "cancel"]
    assert schema["properties"]["n"]["minimum"] == 0 and schema["properties"]["n"]["maximum"] == 50


def test_openapi_schema(api):
    r = api.get("/api/schema/?format=json")
    assert r.status_code == 200
    doc = json.loads(r.content)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ("/api/experiments/", "/api/experiments/{id}/", "/api/experiments/{id}/cancel/",
              "/api/experiments/{id}/candidates/", "/api/experiments/{id}/series/",
              "/api/experiments/{id}/artifacts/", "/api/hardware/", "/api/hardware/{slug}/", "/api/techniques/"):
        assert p in paths, p
    assert "post" in paths["/api/experiments/"]
    params = {p["name"] for p in paths["/api/experiments/"]["get"]["parameters"]}
    assert {"technique", "status", "hardware", "owner"} <= params
    yaml_r = api.get("/api/schema/")
    assert yaml_r.status_code == 200 and b"openapi:" in yaml_r.content


def test_swagger_page_is_served_offline(client, user):
    client.force_login(user)
    r = client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger" in html.lower()
    srcs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any("swagger-ui" in s for s in srcs), srcs
    assert not [s for s in srcs if re.match(r"(https?:)?//", s)], srcs
    assert not re.search(r"""<script[^>]+src\s*=\s*["'](https?:)?//""", html)
    # and the files it names are really there
    from django.contrib.staticfiles import finders

    for s in srcs:
        if s.startswith("/static/"):
            assert finders.find(s[len("/static/"):]), s
    # no inline script (the Content-Security-Policy allows only script files): the start-up script is a URL
    assert not re.search(r"<script>\s*\S", html), html
    start = next(s for s in srcs if "script" in s and s.startswith("/api/docs/"))
    js = client.get(start.replace("&amp;", "&"))
    assert js.status_code == 200 and js["Content-Type"].startswith("application/javascript")
