"""In a real Chromium, the NAS issue's user story on tiny settings: train a
super-net from the form, run the evolutionary search (NSGA-II front) and
ProxylessNAS on two profiles, compare the fronts, open the best network and
download its ONNX file."""
from __future__ import annotations

from pathlib import Path

import pytest

from .flows import launch, login
from .test_launch_from_form import OUT, live_worker  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The worker inherits the environment: checkpoints land here."""
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_supernet_searches_on_two_profiles_compare_and_download(cache, live_server, live_worker, browser_page,
                                                               django_user_model):
    page, url = browser_page, live_server.url
    login(page, url, django_user_model)

    # 1. a (tiny) super-net, trained from the form
    launch(page, url, "supernet", "local-cpu", "e2e super-net",
            {"widths": "8, 16", "resolutions": "16", "head_width": 16, "epochs": 1, "train_limit": 200,
             "eval_subnets": 0, "name": "e2e-sn"})
    assert (cache / "checkpoints" / "e2e-sn.safetensors").is_file()
    page.wait_for_selector("#series .js-plotly-plot", timeout=20_000)  # loss and accuracy curves

    # 2. the evolutionary search (NSGA-II front) and ProxylessNAS on two profiles; the
    #    super-net is picked from the list of trained ones
    evo = {}
    for hw in ("raspberry-pi-4", "nvidia-a100"):
        evo[hw] = launch(page, url, "evolution", hw, f"front on {hw}",
                          {"generations": 3, "predictor_samples": 12, "predictor_epochs": 5, "finetune": 1,
                           "finetune_epochs": 0, "front_evaluated": 3},
                          selects={"checkpoint": "e2e-sn", "mode": "front", "latency_source": "roofline"},
                          advanced={"eval_images": 50, "bn_images": 32})
        assert evo[hw].config["checkpoint"] == "e2e-sn"
        assert evo[hw].candidates.filter(metrics__accuracy_source="predictor").exists()
        launch(page, url, "proxylessnas", hw, f"proxyless on {hw}",
                {"widths": "8, 16", "resolution": 16, "head_width": 16, "epochs": 1, "train_limit": 128,
                 "batch_size": 32, "arch_every": 1, "warmup_fraction": 0, "finetune_epochs": 0},
                selects={"latency_source": "roofline"})
    page.wait_for_selector("#pareto .scatterlayer .point", timeout=20_000)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "proxylessnas-page.png"), full_page=True)

    # 3. the fronts side by side, each best network named block by block
    a, b = evo["raspberry-pi-4"], evo["nvidia-a100"]
    page.goto(f"{url}/compare/?ids={a.pk}&ids={b.pk}")
    page.wait_for_selector("#compare-plot .scatterlayer .trace", timeout=20_000)
    assert len(page.query_selector_all("#compare-plot .scatterlayer .trace")) >= 2
    rows = page.query_selector_all("#compare-table tbody tr")
    assert len(rows) == 2 and all("px k" in r.inner_text() for r in rows)
    assert "(estimate)" in page.inner_text("#compare-table")  # roofline latency, predicted accuracy
    page.screenshot(path=str(OUT / "compare-page.png"), full_page=True)

    # 4. the best network's page: drawn block by block, its ONNX file downloads
    page.goto(f"{url}/experiments/{a.pk}/")
    page.wait_for_selector("#candidate-table tbody tr td a")
    best = a.candidates.filter(artifacts__kind="onnx").first()
    assert best is not None
    page.goto(f"{url}/experiments/{a.pk}/candidates/{best.index}/")
    assert page.query_selector_all(".diagram .blk:not(.io)")
    with page.expect_download() as dl:
        page.click("a[download]:has-text('.onnx')")
    path = Path(dl.value.path())
    assert path.stat().st_size > 1000 and dl.value.suggested_filename.endswith(".onnx")
    import onnx

    model = onnx.load(str(path))
    assert model.graph.input[0].name == "image"
    page.screenshot(path=str(OUT / "candidate-page.png"), full_page=True)
