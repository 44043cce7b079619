"""In a real Chromium: AMC launched from the form prunes a network trained
first, beside its baselines; the page shows the policies and the per-layer
kept channels; the pruned network is kept with its parent and downloads as
ONNX."""
from __future__ import annotations

from pathlib import Path

import pytest

from webapp.models import Network

from .flows import launch, login
from .test_launch_from_form import OUT, live_worker  # noqa: F401  (fixture)
from .test_nas_flow import cache  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_amc_from_the_form(cache, live_server, live_worker, browser_page, django_user_model):
    import onnx

    page, url = browser_page, live_server.url
    login(page, url, django_user_model)
    exp = launch(page, url, "amc", "local-cpu", "amc from the form",
                 {"base_epochs": 1, "base_width": 0.25, "train_limit": 200, "val_images": 100, "bn_images": 64,
                  "episodes": 4, "warmup": 2, "finetune_epochs": 1, "batch_size": 32},
                 selects={"dataset": "digits", "resource": "flops"})
    searches = {c.architecture["search"] for c in exp.candidates.all()}
    assert {"agent", "random", "agent (fine-tuned)", "uniform (fine-tuned)", "magnitude (fine-tuned)"} <= searches
    assert exp.summary["metrics"]["flops_ratio"] <= 0.5 + 1e-6
    page.wait_for_selector("#pareto .scatterlayer .point", timeout=20_000)
    page.wait_for_selector("#series .js-plotly-plot", timeout=20_000)
    assert "preserve ratio by layer group" in page.inner_text("#series")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "amc-page.png"), full_page=True)
    pruned = Network.objects.get(experiment=exp, name__startswith="amc-agent")
    assert pruned.builder == "pruned" and pruned.parent is not None and pruned.parent.experiment == exp
    page.goto(f"{url}/networks/{pruned.pk}/")
    with page.expect_download() as dl:
        page.click("#dl-onnx")
    onnx.checker.check_model(onnx.load(str(Path(dl.value.path()))))
    assert pruned.parent.name in page.inner_text("#lineage")
