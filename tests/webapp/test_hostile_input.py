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
from webapp.errors import ApplicationError
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


# --- integers too long to convert, lone surrogates (issue 35) ------------------------------

LONG = "9" * 5000  # Python refuses to convert 4,300 digits and more: a bare ValueError was a 500


@pytest.fixture
def anon():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.mark.parametrize("method,url,body,field", [
    ("post", "/api/token/", '{"username": "alice", "password": ' + LONG + "}", "password"),
    ("post", "/api/experiments/", '{"technique": "model-zoo", "hardware": "local-cpu", "config": '
                                  '{"train_epochs": ' + LONG + "}}", "config.train_epochs"),
    ("post", "/api/hardware/", '{"slug": "long-board", "title": "t", "cores": ' + LONG + "}", "cores"),
    ("patch", "/api/hardware/board/", '{"cores": -' + LONG + "}", "cores"),
    ("post", "/api/hardware/board/lookup-table/", '{"entries": {"a": {"mean": ' + LONG + "}}}",
     "entries.a.mean"),
    ("post", "/api/flows/", '{"hardware": "local-cpu", "steps": [{"technique": "nas-evolution", "config": '
                            '{"seed": ' + LONG + "}}]}", "steps.0.config.seed"),
    ("post", "/api/experiments/{exp}/share/", '{"shared": ' + LONG + "}", "shared"),
])
def test_an_integer_of_5000_digits_is_a_400_naming_its_field(api, anon, board, exp, no_queue, method, url, body,
                                                             field):
    before = db_counts()
    c = anon if url == "/api/token/" else api
    r = getattr(c, method)(url.format(exp=exp.pk), body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert "5,000 digits" in r.json()["detail"] and field in r.json()["errors"]
    assert db_counts() == before and not no_queue


def test_a_5000_digit_class_count_in_a_multipart_upload_is_a_400(api, profiles, media_root):
    r = api.post("/api/networks/", {"name": "n", "architecture": "mobilenet_v2", "classes": LONG,
                                    "weights": io.BytesIO(b"x")}, format="multipart")
    assert r.status_code == 400 and "classes" in r.json()["errors"]


def test_long_but_convertible_integers_are_bounded_as_before(api, profiles, no_queue):
    body = '{"technique": "model-zoo", "hardware": "local-cpu", "config": {"train_epochs": ' + "9" * 30 + "}}"
    r = api.post("/api/experiments/", body, content_type="application/json")
    assert r.status_code == 400 and "config.train_epochs" in r.json()["errors"] and not no_queue


@pytest.mark.parametrize("label,url,body", [
    ("experiment name", "/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu",
                                              "config": SMOKE_ZOO, "name": "a\ud800b"}),
    ("config text", "/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu",
                                          "config": {**SMOKE_ZOO, "optimizer": "sgd\udfff"}}),
    ("a key", "/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu", "config": {"x\ud800": 1}}),
    ("profile title", "/api/hardware/", {"slug": "sur-board", **GOOD_HW, "title": "T\ud800"}),
    ("profile notes", "/api/hardware/", {"slug": "sur-board", **GOOD_HW, "notes": "\udc00"}),
    ("flow name", "/api/flows/", {"hardware": "local-cpu", "name": "f\ud800", "steps": []}),
])
def test_a_lone_surrogate_in_json_text_is_a_400(api, profiles, no_queue, label, url, body):
    before = db_counts()
    r = api.post(url, json.dumps(body), content_type="application/json")  # json.dumps writes "\ud800"
    assert r.status_code == 400, (label, r.content)
    assert "surrogate" in r.json()["detail"]
    assert db_counts() == before and not no_queue


def test_a_lone_surrogate_given_from_python_is_refused_by_the_services(user, profiles, no_queue):
    """The services check text too, whoever calls them (a management command, a script)."""
    from webapp.errors import ApplicationError

    before = db_counts()
    with pytest.raises(ApplicationError, match="invalid|not valid") as e:
        services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO,
                                   name="x\ud800")
    assert "surrogate" in e.value.field_errors["name"]
    with pytest.raises(ApplicationError) as e:
        services.hardware_profile_create(owner=user, slug="sb", data={**GOOD_HW, "notes": "\ud800"})
    assert "surrogate" in e.value.field_errors["notes"]
    assert db_counts() == before and not no_queue


# --- typed JSON: text is no number there, a value listed twice is refused ------------------

@pytest.mark.parametrize("config,field,says", [
    ({**SMOKE_ZOO, "train_epochs": "5"}, "train_epochs", "whole number"),
    ({**SMOKE_ZOO, "widths": [0.5, 0.5]}, "widths", "listed twice"),
    ({**SMOKE_ZOO, "widths": "0.5,1.0"}, "widths", "must be a list"),
    ({**SMOKE_ZOO, "latency_repeats": True}, "latency_repeats", "whole number"),
])
def test_the_api_takes_settings_typed_and_once(api, profiles, no_queue, config, field, says):
    before = db_counts()
    r = api.post("/api/experiments/", {"technique": "model-zoo", "hardware": "local-cpu", "config": config},
                 format="json")
    assert r.status_code == 400 and says in r.json()["errors"][f"config.{field}"], r.content
    assert db_counts() == before and not no_queue


def test_the_form_still_takes_text_and_refuses_a_width_twice(client, user, profiles, no_queue):
    client.force_login(user)
    form = {"technique": "model-zoo", "hardware": "local-cpu", "cfg-models": "squeezenet1_1",
            "cfg-resolutions": "32", "cfg-train_epochs": "0"}
    r = client.post("/experiments/new/", {**form, "cfg-widths": "0.5, 0.5"})
    assert r.status_code == 200 and b"listed twice" in r.content and not Experiment.objects.exists()
    assert client.post("/experiments/new/", {**form, "cfg-widths": "0.5, 1.0"}).status_code == 302


# --- sign-in: every path throttled, the client as trusted proxies say, tokens revoked ------

def _admin(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="root-pass-123")


def test_the_admin_login_is_locked_out_like_the_login_page(client, django_user_model, settings):
    _admin(django_user_model)
    n = settings.FRONTIER_LOGIN_MAX_FAILURES
    codes = [client.post("/admin/login/", {"username": "root", "password": f"g{i}"}).status_code for i in range(12)]
    assert codes[:n] == [200] * n and set(codes[n:]) == {429}
    r = client.post("/admin/login/", {"username": "root", "password": "root-pass-123"})
    assert r.status_code == 429 and int(r["Retry-After"]) > 0 and "_auth_user_id" not in client.session
    assert client.post("/login/", {"username": "root", "password": "root-pass-123"}).status_code == 429


def test_failures_on_the_login_page_lock_the_admin_and_the_token(client, django_user_model, settings):
    from rest_framework.test import APIClient

    _admin(django_user_model)
    for i in range(settings.FRONTIER_LOGIN_MAX_FAILURES):
        client.post("/login/", {"username": "root", "password": f"g{i}"}, REMOTE_ADDR=f"10.1.0.{i}")
    # the name is locked wherever its password is checked, from any address
    assert client.post("/admin/login/", {"username": "root", "password": "root-pass-123"},
                       REMOTE_ADDR="10.2.0.1").status_code == 429
    assert APIClient().post("/api/token/", {"username": "root", "password": "root-pass-123"}, format="json",
                            REMOTE_ADDR="10.2.0.2").status_code == 429


def test_a_new_x_forwarded_for_on_each_request_does_not_reset_the_token_rate(user, monkeypatch):
    from rest_framework.test import APIClient
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    c = APIClient()
    codes = [c.post("/api/token/", {"username": "alice", "password": "alice-pass-123"}, format="json",
                    HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_a_new_x_forwarded_for_does_not_reset_the_lock_out(client, user, settings):
    settings.FRONTIER_LOGIN_MAX_FAILURES = 3
    for i in range(3):
        client.post("/login/", {"username": f"m{i}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert client.post("/login/", {"username": "alice", "password": "alice-pass-123"},
                       HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 429  # the one address: locked


def test_changing_the_password_revokes_the_api_token(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    key = APIClient().post("/api/token/", {"username": "alice", "password": "alice-pass-123"},
                           format="json").json()["token"]
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert c.get("/api/hardware/").status_code == 200
    user.last_name = "renamed"
    user.save()  # a save without a new password keeps it
    assert c.get("/api/hardware/").status_code == 200
    user.set_password("a-new-pass-456")
    user.save()
    assert c.get("/api/hardware/").status_code in (401, 403) and not Token.objects.filter(key=key).exists()


def test_signed_in_pages_and_api_answers_are_private(client, api, user, profiles):
    from rest_framework.test import APIClient

    client.force_login(user)
    for url in ("/", "/experiments/", "/hardware/", "/account/"):
        assert "private" in client.get(url)["Cache-Control"], url
    key = APIClient().post("/api/token/", {"username": "alice", "password": "alice-pass-123"},
                           format="json").json()["token"]
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert "private" in c.get("/api/experiments/")["Cache-Control"]


# --- exports made once ------------------------------------------------------------------------

def test_an_onnx_export_is_built_once_for_concurrent_downloads_and_a_failure_once(user, profiles, media_root,
                                                                                  monkeypatch):
    import threading

    import webapp.services.networks as nets
    from tests.webapp.test_networks import weights_file

    class Upload(io.BytesIO):
        name, size = "w.safetensors", None

    f = weights_file()
    up = Upload(f.getvalue())
    up.size = len(up.getvalue())
    up.chunks = lambda: [up.getvalue()]
    net = services.network_upload(owner=user, data={"name": "n", "architecture": "mobilenet_v2", "width": 0.5,
                                                    "classes": 10, "resolution": 32}, weights=up)
    calls, real = [], nets.export_onnx

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(nets, "export_onnx", counted)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(nets.network_export(network=net, fmt="onnx")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(paths)) == 1 and paths[0].is_file()

    def broken(*a, **k):
        calls.append(1)
        raise RuntimeError("exporter says no")

    monkeypatch.setattr(nets, "export_torchscript", broken)
    for _ in range(2):
        with pytest.raises(ApplicationError, match="exporter says no"):
            nets.network_export(network=net, fmt="torchscript")
    assert len(calls) == 2  # the failure is remembered, not rebuilt on every GET


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


# --- an archive bomb uploaded as a HAT corpus (issue 35) -----------------------------------------------------

#: run in a fresh process: the upload view refuses the archive given as argv[1]; prints the resident memory
#: before and its peak during the refusal (the peak reset first through /proc/self/clear_refs)
_MEASURE_UPLOAD = r'''
import io, json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from rest_framework.test import APIRequestFactory, force_authenticate
from webapp.api.views import UploadView

def request(data, name):
    f = io.BytesIO(data)
    f.name = name
    req = APIRequestFactory().post("/api/uploads/", {"file": f, "kind": "corpus"}, format="multipart")
    force_authenticate(req, user=get_user_model()(pk=1, username="probe"))  # never saved: no database
    return req

def kib(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))

view = UploadView.as_view()
view(request(b"\x1f\x8b not really", "warm.tar.gz")).render()  # every lazy import done before measuring
req = request(open(sys.argv[1], "rb").read(), "bomb.tar.gz")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # VmHWM starts again from what is resident now
before = kib("VmRSS")
r = view(req)
r.render()
print(json.dumps({"status": r.status_code, "body": json.loads(r.content), "rss_before_kib": before,
                  "peak_kib": kib("VmHWM")}))
'''


def test_a_tar_gz_bomb_uploaded_as_a_corpus_is_refused_from_its_header(api, media_root, tmp_path):
    """A ~580 KB .tar.gz holding a 600 MB member of zeros raised the web worker
    by ~1 GB before it was refused (the member was read before its size was
    checked). Now: a 400 naming the member, no file kept, no row written, and
    in a fresh process the upload view's peak resident memory rises < 50 MiB."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.contrib.auth import get_user_model

    from tests.engine.hat.test_data import zeros_tar_gz

    bomb = zeros_tar_gz(tmp_path / "bomb.tar.gz", 600 * 10**6)
    assert bomb.stat().st_size < 1_000_000
    rows = (*db_counts(), get_user_model().objects.count())
    f = io.BytesIO(bomb.read_bytes())
    f.name = "bomb.tar.gz"
    r = api.post("/api/uploads/", {"file": f, "kind": "corpus"}, format="multipart")
    assert r.status_code == 400, r.content
    message = r.json()["errors"]["file"]
    assert message.startswith("the upload: member 'train.en' declares 600,000,000 bytes in a ") and \
        "(a decompression bomb?); refused" in message, message
    assert not [p for p in media_root.rglob("*") if p.is_file()]
    assert (*db_counts(), get_user_model().objects.count()) == rows
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("the peak-memory half needs Linux's /proc/self/clear_refs")
    root = Path(__file__).resolve().parents[2]
    media = tmp_path / "probe-media"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "FRONTIER_MEDIA_ROOT": str(media),
           "PYTHONPATH": str(root)}
    run = subprocess.run([sys.executable, "-c", _MEASURE_UPLOAD, str(bomb)], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["status"] == 400 and "decompression bomb" in got["body"]["errors"]["file"], got
    rise = (got["peak_kib"] - got["rss_before_kib"]) / 1024
    print(f"peak resident memory rose {rise:.1f} MiB refusing the 600 MB bomb")
    assert rise < 50, f"peak resident memory rose {rise:.1f} MiB refusing it"
    assert not [p for p in media.rglob("*") if p.is_file()]
