"""In a real Chromium: log in, launch a model-zoo job from the form, watch the
progress bar move and the Pareto plot render, and save a screenshot."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.webapp.worker import celery_worker
from webapp.models import Experiment

from .flows import check_only

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# pytest-playwright empties test-results/, so screenshots go under var/
OUT = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def live_worker(need_redis, need_postgres, live_server, profiles, media_root, tmp_path):
    import redis

    redis.Redis.from_url(need_redis).flushdb()
    from celery import current_app

    import tasks.celery  # noqa: F401
    current_app.conf.broker_url = need_redis
    with celery_worker(name="e2e", log_path=tmp_path / "worker.log") as w:
        yield w


def test_launch_watch_and_plot(live_server, live_worker, browser_page, django_user_model):
    django_user_model.objects.create_user(username="erin", password="erin-pass-123")
    page = browser_page
    page.goto(live_server.url + "/experiments/new/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", "erin-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/experiments/new/**")

    page.select_option("#id_technique", "model-zoo")
    page.wait_for_selector("#config-form >> text=Model zoo", timeout=10_000)
    check_only(page, "cfg-models", ("squeezenet1_1", "mobilenet_v3_small", "resnet18"))
    page.fill("input[name=cfg-widths]", "1.0")
    page.fill("input[name=cfg-resolutions]", "32")
    page.fill("input[name=cfg-train_epochs]", "1")
    page.fill("input[name=cfg-max_train_samples]", "300")
    page.fill("input[name=name]", "browser test")
    page.click("button:has-text('Launch')")
    page.wait_for_url("**/experiments/*/", timeout=15_000)
    exp = Experiment.objects.get(name="browser test")
    assert exp.config["models"] == ["mobilenet_v3_small", "resnet18", "squeezenet1_1"] or \
        sorted(exp.config["models"]) == ["mobilenet_v3_small", "resnet18", "squeezenet1_1"]

    # the progress bar moves while the job runs
    seen = set()
    for _ in range(300):
        seen.add(page.get_attribute("#status .bar", "aria-valuenow"))
        status = page.get_attribute("#status", "data-status")
        if len(seen - {"0"}) >= 2 or status in ("succeeded", "failed"):
            break
        page.wait_for_timeout(300)
    assert len(seen) >= 2, f"progress never moved: {seen}"

    # (a selector: wait_for_function's eval is refused by the Content-Security-Policy)
    page.wait_for_selector("#status[data-status=succeeded]", state="attached", timeout=180_000)
    page.wait_for_selector("#cancel-btn", state="detached", timeout=15_000)  # the page reloads when the job ends
    page.wait_for_selector("#pareto .scatterlayer .point", timeout=20_000)
    points = page.query_selector_all("#pareto .scatterlayer .point")
    assert len(points) >= 3
    assert "Pareto front" in page.inner_text("#pareto")
    page.wait_for_selector("#candidate-table tbody tr td a")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "experiment-page.png"), full_page=True)
    exp.refresh_from_db()
    assert exp.status == "succeeded" and exp.candidate_count == 3


def test_launch_sparsenet_from_the_form(live_server, live_worker, browser_page, django_user_model):
    """SparseNets from the form on tiny settings: a DenseNet and a SparseNet
    trained, the scatter coloured by aggregation rule, the training memory bars
    and the block connectivity drawn."""
    from .flows import launch, login

    page, url = browser_page, live_server.url
    login(page, url, django_user_model)
    page.goto(url + "/experiments/new/")
    page.select_option("#id_technique", "sparsenet")
    page.wait_for_selector("#config-form input[name=cfg-networks]", timeout=10_000)
    check_only(page, "cfg-networks", ("densenet-16-8", "sparsenet-16-16"))
    exp = launch(page, url, "sparsenet", "local-cpu", "sparsenets in the browser",
                 {"epochs": 1, "train_limit": 64, "test_limit": 32, "batch_size": 16, "memory_batch_size": 4},
                 selects={"dataset": "digits"}, keep_form=True)
    by_net = {c.metrics["network"]: c.metrics for c in exp.candidates.all()}
    assert set(by_net) == {"densenet-16-8", "sparsenet-16-16"}
    assert by_net["densenet-16-8"]["rule"] == "concat-all" and by_net["sparsenet-16-16"]["latency_source"]
    page.wait_for_selector("#pareto .scatterlayer .point", timeout=20_000)
    legend = page.inner_text("#pareto")
    assert "concat-all (1)" in legend and "concat-exp (1)" in legend
    page.wait_for_selector("#series .js-plotly-plot", timeout=20_000)
    text = page.inner_text("main")
    assert "Training memory, measured" in text and "Block connectivity" in text
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "sparsenet-page.png"), full_page=True)


def test_launch_hat_from_the_form(live_server, live_worker, browser_page, django_user_model, tmp_path):
    """HAT from the form on tiny settings, on a corpus uploaded through the
    page (a .zip of train / valid / test files): SubTransformers measured, the
    SuperTransformer trained, evolution beside random search, the winner and
    the uniform baseline fine-tuned and translated, a second search for an
    MCU profile judged on both profiles; the page groups the
    scatter by search, draws the winner layer by layer, plots predicted
    latency against measured and shows example translations as a table; the
    winner is kept as a network."""
    import zipfile

    from engine.data.parallel import generate_number_corpus
    from webapp.models import Network

    from .flows import launch, login

    corpus = generate_number_corpus("de", train=120, valid=16, test=8, seed=1)
    archive = tmp_path / "numbers-en-de.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for split in ("train", "valid", "test"):
            pairs = getattr(corpus, split)
            zf.writestr(f"{split}.en", "".join(s + "\n" for s, _ in pairs))
            zf.writestr(f"{split}.de", "".join(t + "\n" for _, t in pairs))
    page, url = browser_page, live_server.url
    login(page, url, django_user_model)
    exp = launch(page, url, "hat", "local-cpu", "hat in the browser",
                 {"vocab_size": 120, "max_len": 24,
                  "epochs": 1, "batch_size": 32, "warmup_steps": 4, "latency_samples": 10, "latency_warmup": 1,
                  "latency_repeats": 3, "sentence_length": 4, "generations": 2, "population": 6, "parents": 2,
                  "mutations": 2, "crossovers": 2, "valid_sentences": 16, "finetune_epochs": 1,
                  "bleu_sentences": 4, "beam": 2},
                 selects={"dataset": "upload", "other_profile": "stm32f746"}, files={"corpus_upload": archive},
                 advanced={"predictor_epochs": 20})
    assert exp.config["dataset"] == "upload" and exp.config["corpus_upload"].endswith(".zip")
    assert exp.summary["metrics"]["dataset_origin"] == "real"
    searches = {c.metrics["search"] for c in exp.candidates.all()}
    assert {"evolution", "random", "winner", "uniform baseline", "latency sample"} <= searches
    page.wait_for_selector("#pareto .scatterlayer .point", timeout=20_000)
    legend = page.inner_text("#pareto")
    assert "winner (1)" in legend and "evolution" in legend and "random" in legend
    page.wait_for_selector("#series .js-plotly-plot", timeout=20_000)
    text = page.inner_text("main")
    assert "Layers: " in text and "searched" in text and "Latency: predicted against measured" in text
    rows = page.query_selector_all("#translations tbody tr")
    assert len(rows) == 4  # bleu_sentences test pairs
    first = [td.inner_text() for td in rows[0].query_selector_all("td")]
    assert (first[0], first[1]) in {(s, t) for s, t in corpus.test} and 0 <= float(first[3]) <= 100
    assert "translations.csv" in page.inner_text("#translations")
    # the claim card: the searched network beside both baselines, and each profile's own SubTransformer there
    assert len(page.query_selector_all("#hat-claim table")[0].query_selector_all("tbody tr")) == 3
    cross = [r.inner_text() for r in page.query_selector_all("#hat-claim table")[1].query_selector_all("tbody tr")]
    assert len(cross) == 2 and "local-cpu (measured)" in cross[0] and "stm32f746 (roofline)" in cross[1]
    assert "estimate" in page.inner_text("#hat-claim")
    net = Network.objects.get(experiment=exp)
    assert net.problem["kind"] == "sequence-to-sequence" and net.metrics["bleu"] >= 0
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "hat-page.png"), full_page=True)
    # the winner's page offers HAT's deployment split, exported and checked by the run
    assert "onnx.checker passed" in net.metrics["onnx_split"], net.metrics
    page.goto(f"{url}/networks/{net.pk}/")
    assert page.inner_text("#dl-onnx-encoder").strip().endswith("encoder.onnx")
    assert page.inner_text("#dl-onnx-decoder-step").strip().endswith("decoder_step.onnx")
