"""In a real Chromium, the Networks issue's user story: an evolution search
from the form keeps its winner as a network; its page draws it and its ONNX
downloads and passes onnx.checker; a torchvision MobileNetV2 uploaded with a
safetensors file is picked as TinyTL's backbone in the form, and the adapted
network is kept as its child."""
from __future__ import annotations

from pathlib import Path

import pytest

from webapp.models import Network

from .flows import check_only, launch, login
from .test_launch_from_form import OUT, live_worker  # noqa: F401  (fixture)
from .test_nas_flow import cache  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_search_winner_network_download_upload_and_tinytl_backbone(cache, live_server, live_worker, browser_page,
                                                                  django_user_model, tmp_path):
    import onnx
    import torch
    from safetensors.torch import save_file
    from torchvision.models import mobilenet_v2

    page, url = browser_page, live_server.url
    login(page, url, django_user_model)

    # 1. a tiny super-net and an evolution search whose winner is fine-tuned and kept
    launch(page, url, "supernet", "local-cpu", "net super-net",
           {"widths": "8, 16", "resolutions": "16", "head_width": 16, "epochs": 1, "train_limit": 200,
            "eval_subnets": 0, "name": "net-sn"})
    evo = launch(page, url, "evolution", "local-cpu", "net search",
                 {"generations": 2, "predictor_samples": 12, "predictor_epochs": 5, "finetune": 1,
                  "finetune_epochs": 1, "front_evaluated": 2},
                 selects={"checkpoint": "net-sn", "mode": "front"}, advanced={"eval_images": 50, "bn_images": 32})
    winners = Network.objects.filter(experiment=evo)
    assert winners.exists() and all(n.builder == "space" for n in winners)
    page.wait_for_selector("#networks-kept a")

    # 2. the winner's page, from its candidate: drawn block by block, with its latency
    win = winners.first()
    page.goto(f"{url}/experiments/{evo.pk}/candidates/{win.candidate.index}/")
    page.click("a.network-link")
    page.wait_for_url(f"**/networks/{win.pk}/")
    assert len(page.query_selector_all("#blocks tbody tr")) >= 4
    assert "measured" in page.inner_text("#network-latency")
    assert "fine-tuned" in page.inner_text("#network-metrics")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "network-page.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#dl-onnx")
    path = Path(dl.value.path())
    onnx.checker.check_model(onnx.load(str(path)))
    assert dl.value.suggested_filename.endswith(".onnx")

    # 3. a torchvision MobileNetV2 uploaded with its safetensors weights
    torch.manual_seed(0)
    weights = tmp_path / "mv2.safetensors"
    save_file({k: v.contiguous() for k, v in mobilenet_v2(width_mult=0.5, num_classes=10).state_dict().items()},
              str(weights))
    page.goto(f"{url}/networks/upload/")
    page.fill("input[name=name]", "my-mobilenet")
    page.select_option("select[name=architecture]", "mobilenet_v2")
    page.fill("input[name=width]", "0.5")
    page.fill("input[name=classes]", "10")
    page.fill("input[name=resolution]", "32")
    page.set_input_files("input[name=weights]", str(weights))
    page.click("#network-upload button[type=submit]")
    page.wait_for_url("**/networks/*/")
    mine = Network.objects.get(name="my-mobilenet")
    assert mine.uploaded and "every tensor matched" in page.inner_text(".messages")

    # 4. picked as TinyTL's backbone in the form (the page's "use it" link fills the drop-down)
    page.click("a:has-text('TinyTL')")
    page.wait_for_selector("#config-form select[name=cfg-backbone_network]", timeout=10_000)
    assert page.eval_on_selector("select[name=cfg-backbone_network]", "e => e.value") == str(mine.pk)
    check_only(page, "cfg-methods", ("tinytl-lb",))
    page.select_option("select[name=cfg-target_dataset]", "digits")
    exp = launch(page, url, "tinytl", "local-cpu", "tinytl on my net",
                 {"target_classes": "0-9", "resolution": 32, "epochs": 1, "train_limit": 48, "batch_size": 8},
                 advanced={"memory_batch_sizes": "8"}, keep_form=True)
    assert exp.config["backbone_network"] == str(mine.pk)
    child = Network.objects.get(experiment=exp)
    assert child.parent == mine
    page.goto(f"{url}/networks/{child.pk}/")
    assert "my-mobilenet" in page.inner_text("#lineage")
    page.screenshot(path=str(OUT / "network-lineage.png"), full_page=True)
    page.goto(f"{url}/networks/?profile=local-cpu&sort=latency")
    rows = page.query_selector_all("#networks tbody tr")
    assert len(rows) == Network.objects.count() >= 3
    assert "measured" in page.inner_text("#networks")  # the search winner, timed on this machine
    page.screenshot(path=str(OUT / "network-list.png"), full_page=True)
