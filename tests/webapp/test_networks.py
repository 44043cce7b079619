"""Saved networks in the dashboard: kept from runs with their lineage, uploaded
(every field checked, nothing kept on error), downloaded, measured, chosen as a
technique's input."""
from __future__ import annotations

import io
import pickle

import onnx
import pytest
import torch
from safetensors.torch import save

from engine.modelzoo.zoo import build_model
from webapp import services
from webapp.models import Experiment, Network, NetworkLatency

pytestmark = pytest.mark.django_db
S = Experiment.Status
ZOO_TRAINED = {"models": ["mobilenet_v2"], "widths": [0.25], "resolutions": [32], "train_epochs": 1,
               "max_train_samples": 64, "batch_size": 32, "latency_repeats": 2, "latency_warmup": 1,
               "dataset": "digits"}


def weights_file(model=None, name="w.safetensors") -> io.BytesIO:
    model = model or build_model("mobilenet_v2", width=0.5, num_classes=10)
    f = io.BytesIO(save({k: v.contiguous() for k, v in model.state_dict().items()}))
    f.name = name
    return f


def upload(api, f, **fields):
    data = {"name": "my mv2", "architecture": "mobilenet_v2", "width": "0.5", "classes": "10", "resolution": "32",
            **fields, "weights": f}
    return api.post("/api/networks/", data, format="multipart")


def nothing_kept(media_root):
    folder = media_root / "networks"
    return Network.objects.count() == 0 and (not folder.exists() or not any(folder.iterdir()))


def test_upload_list_detail_download(api, client, user, media_root, profiles):
    r = upload(api, weights_file())
    assert r.status_code == 201, r.json()
    body = r.json()
    net = Network.objects.get(pk=body["id"])
    assert net.uploaded and net.builder == "torchvision" and net.params > 0 and net.blocks
    assert (media_root / "networks" / net.uid / "weights.safetensors").is_file()
    assert api.get("/api/networks/?problem=image-classification").json()["results"][0]["id"] == net.pk
    client.force_login(user)
    page = client.get(f"/networks/{net.pk}/").content.decode()
    assert "features.17" in page and "InvertedResidual" in page and "Lineage" in page
    assert "my mv2" in client.get("/networks/?sort=params&profile=local-cpu").content.decode()
    onnx_bytes = b"".join(client.get(f"/networks/{net.pk}/download/onnx/").streaming_content)
    onnx.checker.check_model(onnx.load_from_string(onnx_bytes))
    ts = b"".join(client.get(f"/networks/{net.pk}/download/torchscript/").streaming_content)
    assert torch.jit.load(io.BytesIO(ts))(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert client.get(f"/networks/{net.pk}/download/pickle/").status_code == 302  # unknown format: a message


@pytest.mark.parametrize("fields,file,message", [
    ({"width": "1.0"}, None, "features.0.0.weight is (16, 3, 3, 3) but the architecture needs (32, 3, 3, 3)"),
    ({"architecture": "mobilenet_v9"}, None, "one of mobilenet_v2"),
    ({}, "pickle", "not a safetensors file"),
    ({}, "torch.save", "safetensors file"),
    ({"classes": "0"}, None, "whole number from 1"),
    ({"resolution": "99999"}, None, "whole number from 16"),
    ({"name": ""}, None, "name of 1 to 200"),
    ({"dataset": "imagenet-22k"}, None, "empty or one of"),
    ({"width": "0.7", "architecture": "resnet18"}, None, "no width 0.7"),
    ({}, "txt", "must be a .safetensors file"),
])
def test_bad_uploads_are_400s_that_name_the_problem_and_keep_nothing(api, media_root, fields, file, message):
    f = weights_file()
    if file == "pickle":
        f = io.BytesIO(pickle.dumps(build_model("mobilenet_v2", width=0.5).state_dict()))
        f.name = "w.safetensors"
    elif file == "torch.save":
        f = io.BytesIO()
        torch.save(build_model("mobilenet_v2", width=0.5).state_dict(), f)
        f.seek(0)
        f.name = "w.safetensors"
    elif file == "txt":
        f.name = "w.txt"
    r = upload(api, f, **fields)
    assert r.status_code == 400, r.json()
    assert message in str(r.json())
    assert nothing_kept(media_root)


def test_an_oversized_upload_is_refused_unread(api, media_root, settings):
    settings.FRONTIER_MAX_WEIGHTS_UPLOAD = 1000
    r = upload(api, weights_file())
    assert r.status_code == 400 and "over the" in str(r.json())
    assert nothing_kept(media_root)


def test_only_the_owner_deletes(api, user, other_user, media_root):
    from rest_framework.test import APIClient

    pk = upload(api, weights_file()).json()["id"]
    bob = APIClient()
    bob.force_authenticate(other_user)
    assert bob.delete(f"/api/networks/{pk}/").status_code == 404  # an uploaded network is private to alice
    assert bob.get(f"/api/networks/{pk}/").status_code == 404
    uid = Network.objects.get(pk=pk).uid
    assert api.delete(f"/api/networks/{pk}/").status_code == 204
    assert not Network.objects.exists() and not (media_root / "networks" / uid).exists()


def test_runs_keep_networks_with_their_lineage_and_measurement(api, user, other_user, profiles, no_queue, media_root,
                                                               settings, tmp_path):
    settings.VAR_DIR = tmp_path
    # a trained model-zoo network is kept, linked to its experiment and candidate, with its latency
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=ZOO_TRAINED)
    done = services.experiment_execute(experiment_id=exp.pk)
    assert done.status == S.SUCCEEDED, done.error
    assert "1 network saved" in done.message
    parent = Network.objects.get(experiment=exp)
    assert parent.candidate == done.candidates.get() and parent.accuracy is not None
    assert parent.latencies.get(hardware__slug="local-cpu").source == "measured"
    # someone else's network is refused as an input; a network of the wrong kind too
    r = api.post("/api/experiments/", {"technique": "tinytl", "hardware": "local-cpu",
                                       "config": {"backbone_network": 999999}}, format="json")
    assert r.status_code == 400 and "saved network" in str(r.json())
    # TinyTL takes it as its backbone (by id, as the API gives it) and keeps its adapted net as the child
    from engine import techniques

    smoke = {**techniques.get("tinytl").smoke, "methods": ["tinytl-lb"], "resolution": 32}
    r = api.post("/api/experiments/", {"technique": "tinytl", "hardware": "local-cpu",
                                       "config": {**smoke, "backbone_network": parent.pk}}, format="json")
    assert r.status_code == 201, r.json()
    child_exp = services.experiment_execute(experiment_id=r.json()["id"])
    assert child_exp.status == S.SUCCEEDED, child_exp.error
    child = Network.objects.get(experiment=child_exp)
    assert child.parent == parent and child.technique == "tinytl" and child.builder == "tinytl"
    steps = __import__("webapp.selectors", fromlist=["network_lineage"]).network_lineage(child, user=user)
    assert [s.network for s in steps] == [parent, child] and steps[1].accuracy_change is not None
    # measuring the child on a profile adds its figures
    r = api.post(f"/api/networks/{child.pk}/measure/", {"hardware": "raspberry-pi-4"}, format="json")
    assert r.status_code == 201, r.json()
    m = services.experiment_execute(experiment_id=r.json()["id"])
    assert m.status == S.SUCCEEDED, m.error
    row = NetworkLatency.objects.get(network=child, hardware__slug="raspberry-pi-4")
    assert row.source in ("roofline", "lut", "predictor") and row.latency_ms > 0
    assert r.json()["config"]["network"] == str(child.pk)


def test_the_form_offers_only_my_networks_of_the_right_kind(client, api, user, other_user, profiles, media_root):
    mine = upload(api, weights_file()).json()["id"]
    client.force_login(user)
    html = client.get(f"/experiments/new/?technique=tinytl&network={mine}").content.decode()
    assert f'value="{mine}" selected' in html and "my mv2" in html
    client.force_login(other_user)
    assert "my mv2" not in client.get("/experiments/new/?technique=tinytl").content.decode()


def test_a_kept_encoder_decoder_brings_its_split_onnx_and_the_page_lists_it(client, user, profiles, media_root,
                                                                             tmp_path):
    """HAT's winner: the run's split ONNX (encoder, decoder step) is adopted
    with the network and downloaded from its page; an image network has none."""
    from engine import MemoryReporter
    from engine.networks import keep_network
    from engine.problems import SequenceToSequence
    from engine.spaces import HATSpace
    from tests.webapp.test_services import make_exp

    space, problem = HATSpace("tiny"), SequenceToSequence(40, 40, 5, 5)
    arch = space.smallest()
    rep = MemoryReporter(tmp_path)
    keep_network(rep, space.build(arch, problem), name="hat winner", problem=problem, split_onnx=True,
                 spec={"builder": "space", "args": {"space": "hat", "params": space.params(), "arch": arch}})
    exp = make_exp(user, profiles["local-cpu"], technique="hat")
    net = services.network_adopt(experiment_id=exp.pk, output=rep.outputs[-1])
    assert (media_root / "networks" / net.uid / "decoder_step.onnx").is_file()
    client.force_login(user)
    page = client.get(f"/networks/{net.pk}/").content.decode()
    assert 'id="dl-onnx-encoder"' in page and "decoder_step.onnx" in page and "onnx.checker passed" in page
    for fmt in ("onnx-encoder", "onnx-decoder-step"):
        r = client.get(f"/networks/{net.pk}/download/{fmt}/")
        assert r.status_code == 200 and r["Content-Disposition"].endswith('-step.onnx"' if "step" in fmt
                                                                          else '-encoder.onnx"')
        onnx.checker.check_model(onnx.load_from_string(b"".join(r.streaming_content)))
    # made on demand when a network came without them
    (media_root / "networks" / net.uid / "encoder.onnx").unlink()
    assert client.get(f"/networks/{net.pk}/download/onnx-encoder/").status_code == 200
    img = Network.objects.get(pk=upload_net(client, user))
    assert "dl-onnx-encoder" not in client.get(f"/networks/{img.pk}/").content.decode()
    assert client.get(f"/networks/{img.pk}/download/onnx-encoder/").status_code == 302  # a message: not one


def upload_net(client, user) -> int:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    r = upload(api, weights_file())
    assert r.status_code == 201, r.json()
    return r.json()["id"]
