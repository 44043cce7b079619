"""No 500 from any input (issue 17, part 3): paging parameters out of range,
JSON nested thousands deep, NUL characters in text, the schema's nullable
fields and unknown settings in the settings form. Each case failed before its
fix (a 500, a database error or silently dropped input); run on SQLite and
on PostgreSQL (DATABASE_URL)."""
from __future__ import annotations

import io
import json

import pytest

from tests.conftest import SMOKE_ZOO
from tests.webapp.test_services import GOOD_HW, db_counts, make_exp
from webapp import services
from webapp.models import Experiment, HardwareProfile

pytestmark = pytest.mark.django_db

HUGE = str(2**63 + 5)
LISTS = ["/api/experiments/", "/api/hardware/", "/api/networks/", "/api/experiments/{exp}/candidates/"]


def _deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.fixture
def exp(profiles, user):
    return make_exp(user, profiles["local-cpu"], [{"latency_ms": 1.0, "accuracy": 0.5}])


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("query,param", [
    (f"limit={HUGE}", "limit"), (f"offset={HUGE}", "offset"), ("limit=ten", "limit"), ("limit=1.5", "limit"),
    ("limit=-3", "limit"), ("limit=0", "limit"), ("offset=-1", "offset"), ("offset=x", "offset"),
    (f"limit=10&offset={HUGE}", "offset"),
])
def test_paging_out_of_range_is_a_400_naming_the_parameter(api, exp, url, query, param):
    r = api.get(url.format(exp=exp.pk) + "?" + query)
    assert r.status_code == 400, r.content
    assert param in r.json()


@pytest.mark.parametrize("url", LISTS)
def test_paging_in_range_still_pages(api, exp, url):
    r = api.get(url.format(exp=exp.pk) + "?limit=1&offset=0")
    assert r.status_code == 200 and len(r.json()["results"]) <= 1


def test_the_schema_states_the_paging_bounds(api):
    params = {p["name"]: p for p in api.get("/api/schema/?format=json").json()["paths"]["/api/experiments/"]
              ["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 1000 and params["offset"]["schema"]["minimum"] == 0


@pytest.mark.parametrize("where", ["/experiments/{huge}/", "/experiments/{pk}/candidates/{huge}/",
                                   "/networks/{huge}/", "/api/experiments/{huge}/", "/api/networks/{huge}/"])
def test_ids_above_the_database_range_are_404(api, client, user, exp, where):
    client.force_login(user)
    c = api if where.startswith("/api/") else client
    assert c.get(where.format(huge=HUGE, pk=exp.pk)).status_code == 404


def test_compare_with_a_huge_id_is_not_a_500(client, user, exp):
    client.force_login(user)
    assert client.get(f"/compare/?ids={HUGE}&ids={exp.pk}").status_code == 200


# --- JSON nested 5,000 deep ----------------------------------------------------------------

def test_deep_json_body_on_the_experiment_api(api, profiles, no_queue):
    before = db_counts()
    body = '{"technique": "model-zoo", "hardware": "local-cpu", "config": {"models": ' + _deep(5000) + "}}"
    r = api.post("/api/experiments/", body, content_type="application/json")
    assert r.status_code == 400 and "nested" in r.json()["detail"]
    assert db_counts() == before and not no_queue


def test_moderately_deep_json_is_refused_too(api, profiles, no_queue):
    """900 levels parse in Python but would recurse in whatever walks them next."""
    body = '{"technique": "model-zoo", "hardware": "local-cpu", "config": {"models": ' + _deep(900) + "}}"
    r = api.post("/api/experiments/", body, content_type="application/json")
    assert r.status_code == 400 and "nested more than 64" in r.json()["detail"]


@pytest.fixture
def board(profiles, user):
    return services.hardware_profile_create(owner=user, slug="board", data=GOOD_HW)


def test_deep_json_lookup_table_as_body_file_and_page_form(api, client, user, board):
    deep = '{"entries": ' + _deep(5000) + "}"
    r = api.post("/api/hardware/board/lookup-table/", deep, content_type="application/json")
    assert r.status_code == 400 and "nested" in r.json()["detail"]
    r = api.post("/api/hardware/board/lookup-table/", {"file": io.BytesIO(deep.encode())}, format="multipart")
    assert r.status_code == 400 and "nested" in r.json()["errors"]["file"]
    client.force_login(user)
    page = client.post("/hardware/board/lookup-table/", {"file": io.BytesIO(deep.encode())}, follow=True)
    assert page.status_code == 200 and b"nested more than" in page.content
    assert HardwareProfile.objects.get(slug="board").lookup_table is None


def test_nan_and_nul_in_a_lookup_table_file_are_refused(api, board):
    for bad in (b'{"entries": {"a": {"mean": NaN}}}', b'{"entries": {"a\\u0000": {"mean": 1}}}'):
        r = api.post("/api/hardware/board/lookup-table/", {"file": io.BytesIO(bad)}, format="multipart")
        assert r.status_code == 400, bad
    assert HardwareProfile.objects.get(slug="board").lookup_table is None


# --- NUL characters ---------------------------------------------------------------------

@pytest.mark.parametrize("label,url,body", [
    ("experiment name", "/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu",
                                              "config": SMOKE_ZOO, "name": "a\x00b"}),
    ("config text", "/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu",
                                          "config": {**SMOKE_ZOO, "optimizer": "sgd\x00"}}),
    ("a key", "/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu", "config": {"x\x00": 1}}),
    ("profile title", "/api/hardware/", {"slug": "nul-board", **GOOD_HW, "title": "T\x00"}),
    ("profile notes", "/api/hardware/", {"slug": "nul-board", **GOOD_HW, "notes": "\x00"}),
    ("flow name", "/api/flows/", {"hardware": "local-cpu", "name": "f\x00", "steps": []}),
])
def test_nul_in_json_text_is_a_400(api, profiles, no_queue, label, url, body):
    before = db_counts()
    r = api.post(url, json.dumps(body), content_type="application/json")
    assert r.status_code == 400, (label, r.content)
    assert "NUL" in r.json()["detail"]
    assert db_counts() == before


def test_nul_in_a_profile_update_is_a_400(api, board):
    r = api.patch("/api/hardware/board/", json.dumps({"notes": "x\x00y"}), content_type="application/json")
    assert r.status_code == 400 and "NUL" in r.json()["detail"]
    assert HardwareProfile.objects.get(slug="board").notes == GOOD_HW.get("notes", "")


@pytest.mark.parametrize("url", ["/api/experiments/?owner=a%00b", "/api/experiments/?technique=%00",
                                 "/api/networks/?dataset=%00", "/api/hardware/?x%00=1"])
def test_nul_in_a_query_is_a_400(api, profiles, url):
    r = api.get(url)
    assert r.status_code == 400 and "NUL" in json.dumps(r.json())


@pytest.mark.parametrize("url", ["/experiments/?owner=%00", "/networks/?dataset=%00", "/flows/a%00b/"])
def test_nul_in_a_page_query_or_path_is_a_400(client, user, profiles, url):
    client.force_login(user)
    r = client.get(url)
    assert r.status_code == 400 and b"NUL" in r.content


def test_nul_in_a_form_field_is_a_400(client, user, profiles):
    client.force_login(user)
    before = db_counts()
    r = client.post("/experiments/new/", {"technique": "model-zoo", "hardware": "local-cpu", "name": "x\x00y"})
    assert r.status_code == 400 and b"name" in r.content
    r = client.post("/hardware/new/", {"slug": "b2", "title": "t\x00"})
    assert r.status_code == 400
    assert db_counts() == before


def test_nul_in_a_multipart_upload_name_is_a_400(api, profiles, media_root):
    r = api.post("/api/networks/", {"name": "n\x00", "architecture": "mobilenet_v2",
                                    "weights": io.BytesIO(b"x")}, format="multipart")
    assert r.status_code == 400 and "NUL" in json.dumps(r.json())


# --- the schema and the settings form ------------------------------------------------------

def test_schema_says_owner_may_be_null_as_built_in_profiles_have(api, profiles):
    schema = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert schema["HardwareProfile"]["properties"]["owner"].get("nullable") is True
    assert any(p["owner"] is None for p in api.get("/api/hardware/").json()["results"])
    assert schema["Network"]["properties"]["parent"].get("nullable") is True


def test_unknown_setting_in_the_settings_form_is_an_error(client, user, profiles, no_queue):
    client.force_login(user)
    r = client.post("/experiments/new/", {"technique": "model-zoo", "hardware": "local-cpu",
                                          "cfg-models": "squeezenet1_1", "cfg-train_epochz": "3"})
    assert r.status_code == 200
    assert b"Unknown setting of model-zoo: train_epochz" in r.content
    assert not Experiment.objects.exists() and not no_queue


def test_known_settings_still_launch(client, user, profiles, no_queue):
    client.force_login(user)
    r = client.post("/experiments/new/", {"technique": "model-zoo", "hardware": "local-cpu",
                                          "cfg-models": "squeezenet1_1", "cfg-train_epochs": "0"})
    assert r.status_code == 302 and Experiment.objects.count() == 1
