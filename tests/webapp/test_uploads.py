"""User files: images to attack and safetensors weights are validated, stored
under the user's folder, and only their owner can put them in a config."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from webapp.models import Experiment

pytestmark = pytest.mark.django_db


def png_bytes(size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((size[1], size[0], 3)) * 255).astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def upload(api, data: bytes, name: str, kind: str = "image"):
    f = io.BytesIO(data)
    f.name = name
    return api.post("/api/uploads/", {"file": f, "kind": kind}, format="multipart")


def test_image_upload_then_launch(api, profiles, user, media_root, no_queue):
    r = upload(api, png_bytes(), "cat.png")
    assert r.status_code == 201, r.json()
    path = r.json()["path"]
    assert path.startswith(f"{user.pk}/") and (media_root / "uploads" / path).is_file()
    r = api.post("/api/experiments/", {"technique": "dlg", "hardware": "local-cpu",
                                       "config": {"image_file": path}}, format="json")
    assert r.status_code == 201, r.json()
    assert Experiment.objects.get(pk=r.json()["id"]).config["image_file"] == path


@pytest.mark.parametrize("data,name,message", [
    (b"plain text", "a.png", "not a PNG or JPEG"),
    (png_bytes()[:60], "cut.png", "damaged or truncated"),
    (b"", "empty.png", "empty"),
    (png_bytes(), "a.gif", "must be a .png"),
])
def test_bad_images_are_refused_and_nothing_is_kept(api, media_root, data, name, message):
    r = upload(api, data, name)
    assert r.status_code == 400 and message in r.json()["errors"]["file"], r.json()
    assert not [p for p in (media_root / "uploads").rglob("*") if p.is_file()]


def test_safetensors_upload(api, media_root, tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "w.safetensors"))
    assert upload(api, (tmp_path / "w.safetensors").read_bytes(), "w.safetensors", "safetensors").status_code == 201
    r = upload(api, b"\x80\x04pickle", "evil.safetensors", "safetensors")
    assert r.status_code == 400 and "safetensors" in r.json()["errors"]["file"]


def test_config_paths_must_be_the_owners_uploads(api, other_user, profiles, media_root, no_queue):
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_authenticate(other_user)
    theirs = upload(other, png_bytes(), "x.png").json()["path"]
    for bad in (theirs, "../../settings.py", "/etc/passwd", "nope.png"):
        r = api.post("/api/experiments/", {"technique": "dlg", "hardware": "local-cpu",
                                           "config": {"image_file": bad}}, format="json")
        assert r.status_code == 400 and "config.image_file" in r.json()["errors"], (bad, r.json())
    assert Experiment.objects.count() == 0


def test_form_file_field(client, user, profiles, media_root, no_queue):
    client.force_login(user)
    page = client.get("/experiments/new/?technique=dlg")
    assert b'type="file"' in page.content and b'enctype="multipart/form-data"' in page.content
    f = io.BytesIO(png_bytes())
    f.name = "mine.png"
    r = client.post("/experiments/new/", {"technique": "dlg", "hardware": "local-cpu", "name": "up",
                                          "cfg-image_file": f})
    assert r.status_code == 302, r.content[:2000]
    exp = Experiment.objects.get(name="up")
    assert exp.config["image_file"].startswith(f"{user.pk}/")
    bad = io.BytesIO(b"GIF89a not really")
    bad.name = "mine.png"
    r = client.post("/experiments/new/", {"technique": "dlg", "hardware": "local-cpu", "name": "bad",
                                          "cfg-image_file": bad})
    assert r.status_code == 200 and b"not a PNG or JPEG" in r.content
    assert not Experiment.objects.filter(name="bad").exists()


def test_a_cost_table_upload_refuses_a_pickled_array(api, user, media_root):
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    r = upload(api, buf.getvalue(), "table.npy", kind="npy")
    assert r.status_code == 400 and "not a plain numeric .npy array" in str(r.json())
    assert not any((media_root / "uploads").rglob("*.npy"))
    npz = io.BytesIO()  # an .npz (a zip archive) named .npy: np.load would open it as an archive
    np.savez(npz, a=np.ones(3))
    r = upload(api, npz.getvalue(), "table.npy", kind="npy")
    assert r.status_code == 400 and "magic bytes" in str(r.json())
    ok = io.BytesIO()
    np.save(ok, np.ones((3, 8, 8)))
    assert upload(api, ok.getvalue(), "table.npy", kind="npy").status_code == 201


def test_a_latency_csv_upload_is_checked_by_the_technique_before_launch(client, user, media_root, profiles,
                                                                       no_queue):
    """HAT's latency dataset from the form: missing columns are a form error
    naming them, and no experiment is made; a good file launches."""
    from engine.hat.latency import LatencyRecord, write_latency_csv
    from engine.spaces import HATSpace

    client.force_login(user)
    bad = io.BytesIO(b"encoder_embed_dim,latency_mean_encoder\n64,1.0\n")
    bad.name = "device.csv"
    r = client.post("/experiments/new/", {"technique": "hat", "hardware": "local-cpu", "name": "bad csv",
                                          "cfg-latency_csv": bad})
    assert r.status_code == 200 and b"missing columns" in r.content
    assert not Experiment.objects.filter(name="bad csv").exists()
    space = HATSpace("tiny")
    archs = space.sample_distinct(np.random.default_rng(0), 30)
    path = write_latency_csv(media_root / "ok.csv", np.stack([space.features(a) for a in archs]),
                             [LatencyRecord(1.0, 2.0 + i, 0.1, 0.1) for i in range(30)])
    ok = io.BytesIO(path.read_bytes())
    ok.name = "device.csv"
    r = client.post("/experiments/new/", {"technique": "hat", "hardware": "local-cpu", "name": "good csv",
                                          "cfg-latency_csv": ok})
    assert r.status_code == 302, r.content[:2000]
    assert Experiment.objects.get(name="good csv").config["latency_csv"].endswith(".csv")


def _corpus_zip(members: dict, symlink: str | None = None) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _n(prefix: str, n: int) -> str:
    return "".join(f"{prefix} {i}\n" for i in range(n))


GOOD_CORPUS = {"train.en": _n("one", 40), "train.de": _n("eins", 40)}


def test_a_corpus_upload_then_a_hat_launch_on_it(api, user, profiles, media_root, no_queue):
    r = upload(api, _corpus_zip(GOOD_CORPUS), "wmt.zip", kind="corpus")
    assert r.status_code == 201, r.json()
    path = r.json()["path"]
    assert path.endswith(".zip") and (media_root / "uploads" / path).is_file()
    tsv = upload(api, "".join(f"one {i}\teins {i}\n" for i in range(30)).encode(), "pairs.tsv", kind="corpus")
    assert tsv.status_code == 201, tsv.json()
    r = api.post("/api/experiments/", {"technique": "hat", "hardware": "local-cpu", "config": {
        "dataset": "upload", "corpus_upload": path, "src_lang": "en", "tgt_lang": "de"}}, format="json")
    assert r.status_code == 201, r.json()
    assert Experiment.objects.get(pk=r.json()["id"]).config["corpus_upload"] == path
    # the languages must be the archive's; the dataset must say 'upload'
    for config, field, message in (({"dataset": "upload", "corpus_upload": path, "tgt_lang": "fr"},
                                    "config.corpus_upload", "holds train files in de, en"),
                                   ({"corpus_upload": path}, "config.dataset", "choose 'upload'"),
                                   ({"dataset": "upload"}, "config.corpus_upload", "upload the corpus")):
        r = api.post("/api/experiments/", {"technique": "hat", "hardware": "local-cpu", "config": config},
                     format="json")
        assert r.status_code == 400 and message in r.json()["errors"][field], r.json()
    assert Experiment.objects.count() == 1


@pytest.mark.parametrize("data,name,message", [
    (_corpus_zip({"train.en": _n("a", 30), "train.de": _n("b", 29)}), "c.zip", "equal line counts"),
    (_corpus_zip({"train.en": _n("a", 9) + "\n" + _n("a", 20), "train.de": _n("b", 30)}), "c.zip",
     "train.en: line 10 is empty"),
    (_corpus_zip({"train.en": _n("a", 30), "train.de": b"\xff" * 30}), "c.zip", "train.de: not UTF-8"),
    (_corpus_zip({"train.en": _n("a", 5), "train.de": _n("b", 5)}), "c.zip", "at least 20"),
    (_corpus_zip({"../../train.en": _n("a", 30), "train.de": _n("b", 30)}), "c.zip", "climbs out"),
    (_corpus_zip({"/etc/train.en": _n("a", 30), "train.de": _n("b", 30)}), "c.zip", "absolute"),
    (_corpus_zip(GOOD_CORPUS, symlink="train.fr"), "c.zip", "symbolic link"),
    (_corpus_zip({"train.en": "a\n" * 3_000_000, "train.de": _n("b", 30)}), "c.zip", "zip bomb"),
    (b"PK\x03\x04 not really", "c.zip", "not a readable .zip"),
    (b"\x1f\x8b not really", "c.tar.gz", "not a readable .tar.gz"),
    (("one\ttwo\n" * 20 + "three\n").encode(), "c.tsv", "line 21 has 1 tab-separated column"),
    (_corpus_zip(GOOD_CORPUS), "c.rar", "must be a .zip, .tar.gz, .tgz, .tsv"),
])
def test_bad_corpus_uploads_are_refused_naming_the_problem_and_nothing_is_kept(api, media_root, data, name,
                                                                              message):
    r = upload(api, data, name, kind="corpus")
    assert r.status_code == 400 and message in r.json()["errors"]["file"], r.json()
    assert ".incoming" not in r.json()["errors"]["file"]  # the staging name is not shown
    assert not [p for p in (media_root / "uploads").rglob("*") if p.is_file()]


def test_a_corpus_over_the_size_limit_is_refused(api, media_root, settings):
    settings.FRONTIER_MAX_CORPUS_UPLOAD = 1000
    r = upload(api, _corpus_zip({"train.en": _n("a", 400), "train.de": _n("b", 400)}), "big.tsv", kind="corpus")
    assert r.status_code == 400 and "over the" in r.json()["errors"]["file"]
    assert not [p for p in (media_root / "uploads").rglob("*") if p.is_file()]


def test_the_hat_form_offers_a_corpus_upload(client, user, profiles, media_root, no_queue):
    client.force_login(user)
    page = client.get("/experiments/new/?technique=hat").content.decode()
    assert 'name="cfg-corpus_upload"' in page and ".tar.gz" in page
    f = io.BytesIO(_corpus_zip(GOOD_CORPUS))
    f.name = "mine.zip"
    r = client.post("/experiments/new/", {"technique": "hat", "hardware": "local-cpu", "name": "corpus",
                                          "cfg-dataset": "upload", "cfg-corpus_upload": f})
    assert r.status_code == 302, r.content[:3000]
    assert Experiment.objects.get(name="corpus").config["corpus_upload"].endswith(".zip")
    bad = io.BytesIO(_corpus_zip({"train.en": _n("a", 30), "train.de": _n("b", 31)}))
    bad.name = "bad.zip"
    r = client.post("/experiments/new/", {"technique": "hat", "hardware": "local-cpu", "name": "bad corpus",
                                          "cfg-dataset": "upload", "cfg-corpus_upload": bad})
    assert r.status_code == 200 and b"equal line counts" in r.content
    assert not Experiment.objects.filter(name="bad corpus").exists()
