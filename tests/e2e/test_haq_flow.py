"""In a real Chromium: HAQ launched from the form on the BitFusion profile;
the page shows the policies, the per-layer bits as bars, and the quantised
network is kept and downloads as ONNX."""
from __future__ import annotations

from pathlib import Path

import pytest

from webapp.models import Network

from .flows import launch, login
from .test_launch_from_form import OUT, live_worker  # noqa: F401  (fixture)
from .test_nas_flow import cache  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_haq_from_the_form(cache, live_server, live_worker, browser_page, django_user_model):
    import onnx

    page, url = browser_page, live_server.url
    login(page, url, django_user_model)
    exp = launch(page, url, "haq", "bitfusion", "haq from the form",
                 {"base_epochs": 1, "base_width": 0.25, "train_limit": 200, "val_images": 100, "bn_images": 64,
                  "episodes": 3, "warmup": 2, "episode_batches": 1, "finetune_epochs": 0, "batch_size": 32,
                  "budget": 0.97}, selects={"dataset": "digits", "resource": "latency"})
    searches = {c.architecture["search"] for c in exp.candidates.all()}
    assert "agent" in searches and "agent (fine-tuned)" in searches and any(s.startswith("uniform") for s in searches)
    assert exp.summary["metrics"]["budget_met_fraction"] == 1.0
    page.wait_for_selector("#series .js-plotly-plot", timeout=20_000)
    assert "weight bits by layer" in page.inner_text("#series")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "haq-page.png"), full_page=True)
    # the cost table to fill with device timings: downloads, and is the layout the form accepts
    with page.expect_download() as dl:
        page.click("text=cost-table-estimate-bitfusion.npy")
    import numpy as np
    table = np.load(str(Path(dl.value.path())), allow_pickle=False)
    assert table.shape[1:] == (8, 8) and table.shape[0] == exp.summary["metrics"]["layers"]
    net = Network.objects.get(experiment=exp, builder="quantized")
    page.goto(f"{url}/networks/{net.pk}/")
    with page.expect_download() as dl:
        page.click("#dl-onnx")
    onnx.checker.check_model(onnx.load(str(Path(dl.value.path()))))
