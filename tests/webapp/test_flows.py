"""Design-automation flows: each step an experiment on the network the step
before kept; the chain shows as the last network's lineage."""
from __future__ import annotations

import pytest

from engine import techniques
from webapp import selectors, services
from webapp.errors import ApplicationError
from webapp.models import Experiment, Network

pytestmark = pytest.mark.django_db
S = Experiment.Status
ZOO = {"models": ["mobilenet_v2"], "widths": [0.25], "resolutions": [32], "train_epochs": 1,
       "max_train_samples": 64, "batch_size": 32, "latency_repeats": 2, "latency_warmup": 1, "dataset": "digits"}


def small(name):
    s = dict(techniques.get(name).smoke)
    for k in ("base_epochs", "base_width", "base_model", "resolution"):
        s.pop(k, None)
    return s


def run_flow(first: Experiment) -> None:
    """Execute a flow's steps in turn, as the worker would; each must succeed and name the next."""
    ids = [first.pk]
    for _ in range(len(first.flow["steps"])):
        done = services.experiment_execute(experiment_id=ids[-1])
        assert done.status == S.SUCCEEDED, done.error
        nxt = Experiment.objects.filter(flow__id=first.flow["id"]).exclude(pk__in=ids).first()
        if nxt is None:
            break
        assert f"next step: #{nxt.pk}" in done.message
        ids.append(nxt.pk)


def test_a_flow_runs_step_after_step_on_the_kept_networks(api, user, profiles, no_queue, media_root, settings,
                                                          tmp_path):
    settings.VAR_DIR = tmp_path
    r = api.post("/api/flows/", {"hardware": "bitfusion", "name": "chain", "steps": [
        {"technique": "model-zoo", "config": ZOO}, {"technique": "amc", "config": small("amc")},
        {"technique": "haq", "config": {**small("haq"), "resource": "latency", "budget": 0.97}}]}, format="json")
    assert r.status_code == 201, r.json()
    first = Experiment.objects.get(pk=r.json()["id"])
    assert first.flow["step"] == 0 and len(first.flow["steps"]) == 3
    run_flow(first)
    steps = selectors.flow_experiments(first.flow["id"], user=first.owner)
    assert [e.technique for e in steps] == ["model-zoo", "amc", "haq"]
    final = Network.objects.get(experiment=steps[2], primary=True)
    chain = [s.network.technique for s in selectors.network_lineage(final, user=first.owner)]
    assert chain == ["model-zoo", "amc", "haq"]
    assert steps[1].config["network"] == str(Network.objects.get(experiment=steps[0]).pk)


def test_a_bad_flow_is_refused_whole(api, user, profiles, no_queue):
    for steps, key in (([{"technique": "dlg", "config": {}}], "steps.0.technique"),
                       ([{"technique": "model-zoo"}, {"technique": "dlg"}], "steps.1.technique"),
                       ([{"technique": "model-zoo"}, {"technique": "amc", "config": {"budget": 7}}],
                        "steps.1.config.budget"),
                       ([{"technique": "model-zoo"}, {"technique": "amc", "config": {"network": "3"}}],
                        "steps.1.config"), ("nope", "steps")):
        with pytest.raises(ApplicationError) as e:
            services.flow_launch(owner=user, hardware="local-cpu", steps=steps)
        assert key in e.value.field_errors
    assert not Experiment.objects.exists()


def test_the_flow_form_launches_the_chain_and_its_page_lists_the_steps(client, user, profiles, no_queue):
    client.force_login(user)
    page = client.get("/flows/new/?first=model-zoo").content.decode()
    assert "Step 2: AMC" in page and "Step 3: HAQ" in page and 'name="s1-network"' not in page
    assert 'name="technique" value="model-zoo"' in page
    data = {"first": "model-zoo", "technique": "model-zoo", "hardware": "bitfusion", "name": "my flow",
            "s0-models": ["mobilenet_v2"], "s0-widths": "0.25", "s0-resolutions": "32", "s0-train_epochs": "1",
            "s0-dataset": "digits", "use-amc": "1", "s1-budget": "0.5", "s1-dataset": "digits",
            "use-haq": "1", "s2-budget": "0.97", "s2-resource": "latency", "s2-dataset": "digits"}
    r = client.post("/flows/new/?first=model-zoo", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    exp = Experiment.objects.get()
    assert [s["technique"] for s in exp.flow["steps"]] == ["model-zoo", "amc", "haq"]
    assert exp.flow["steps"][1]["config"]["budget"] == 0.5
    html = client.get(r["Location"]).content.decode()
    assert "waiting for the step before" in html and "my flow" in html


@pytest.mark.parametrize("search", ["evolution", "proxylessnas"])
def test_search_then_prune_then_quantise(search, api, user, profiles, no_queue, media_root, settings, tmp_path):
    """The issue's chain: a NAS winner (evolution or ProxylessNAS) pruned by AMC, then quantised by HAQ."""
    settings.VAR_DIR = tmp_path
    first_cfg = dict(techniques.get(search).smoke)
    r = api.post("/api/flows/", {"hardware": "bitfusion", "name": f"{search} chain", "steps": [
        {"technique": search, "config": first_cfg}, {"technique": "amc", "config": small("amc")},
        {"technique": "haq", "config": {**small("haq"), "resource": "latency", "budget": 0.97}}]}, format="json")
    assert r.status_code == 201, r.json()
    first = Experiment.objects.get(pk=r.json()["id"])
    run_flow(first)
    steps = selectors.flow_experiments(first.flow["id"], user=first.owner)
    assert [e.technique for e in steps] == [search, "amc", "haq"]
    final = Network.objects.get(experiment=steps[2], primary=True)
    chain = [s.network.technique for s in selectors.network_lineage(final, user=first.owner)]
    assert chain == [search, "amc", "haq"]
    # the lineage page's figures after each step: accuracy, and AMC's network cheaper than the NAS winner
    lineage = selectors.network_lineage(final, user=first.owner)
    assert all(s.network.accuracy is not None for s in lineage), [s.network.accuracy for s in lineage]
    assert lineage[1].network.macs < lineage[0].network.macs
    assert all(s.latency_change is not None for s in lineage[1:]), [s.latency_profile for s in lineage]
