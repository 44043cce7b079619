"""In a real Chromium, the TinyTL issue's user story on tiny settings: run the
transfer-learning comparison for a memory-limited profile (an MCU) from the
form and read which method fits and how accurate it is."""
from __future__ import annotations

import pytest

from webapp.models import Experiment

from .flows import check_only, launch, login
from .test_launch_from_form import OUT, live_worker  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path / "cache"))  # pre-trained backbones land here


def test_tinytl_on_an_mcu_shows_what_fits(cache, live_server, live_worker, browser_page, django_user_model):
    page, url = browser_page, live_server.url
    login(page, url, django_user_model)
    page.goto(url + "/experiments/new/")
    page.select_option("#id_technique", "tinytl")
    page.wait_for_selector("#config-form input[name=cfg-methods]", timeout=10_000)
    check_only(page, "cfg-methods", ("ft-full", "ft-last", "tinytl-lb"))
    exp = launch(page, url, "tinytl", "stm32f746", "tinytl on an MCU",
                  {"resolution": 16, "width_mult": 0.25, "source_epochs": 1, "epochs": 1, "train_limit": 48,
                   "batch_size": 8}, selects={"source_dataset": "digits", "target_dataset": "digits"},
                  advanced={"memory_batch_sizes": "8"}, keep_form=True)
    assert sorted(exp.config["methods"]) == ["ft-full", "ft-last", "tinytl-lb"]
    by_method = {c.architecture["method"]: c.metrics for c in exp.candidates.all()}
    assert set(by_method) == {"ft-full", "ft-last", "tinytl-lb"}
    # 320 KB of SRAM: full fine-tuning does not fit, TinyTL does
    assert by_method["ft-full"]["fits_device"] is False and by_method["tinytl-lb"]["fits_device"] is True

    page.wait_for_selector("#candidate-table tbody tr td a")
    table = page.inner_text("#candidate-table")
    assert "ft-full" in table and "tinytl-lb" in table
    # the bar chart of where the memory goes, with the device's memory drawn across it
    page.wait_for_selector("#pareto .scatterlayer .point", timeout=20_000)
    text = page.inner_text("main")
    assert "Training memory, measured" in text and "stm32f746 memory" in text
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "tinytl-page.png"), full_page=True)
    assert Experiment.objects.get(pk=exp.pk).status == "succeeded"
