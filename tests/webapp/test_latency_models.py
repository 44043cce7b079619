"""A profile's latency models: a latency-model run makes its lookup table and
predictor the profile's default; tables are uploaded through the page and the
API with validation; searches see them."""
from __future__ import annotations

import io
import json

import pytest

from engine import techniques
from engine.hardware import validate_lut_json
from webapp import services
from webapp.models import Experiment, HardwareProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def adopted(profiles, user, no_queue, media_root):
    smoke = techniques.get("latency-model").smoke
    exp = services.experiment_launch(owner=user, technique="latency-model", hardware="local-cpu", config=smoke)
    exp = services.experiment_execute(experiment_id=exp.pk)
    assert exp.status == "succeeded", exp.error
    return exp


def test_latency_model_run_becomes_the_profile_default(adopted):
    hw = HardwareProfile.objects.get(slug="local-cpu")
    assert hw.lookup_table is not None and hw.latency_model is not None
    assert hw.latency_model_experiment_id == adopted.pk
    table = validate_lut_json(hw.lookup_table)
    assert len(table.entries) > 0
    assert "default latency model" in adopted.message
    # later experiments on the profile get it with their engine profile
    from webapp.services.hardware import profile_to_engine

    assert profile_to_engine(hw, with_models=True).lookup_table == hw.lookup_table
    assert "lookup_table" not in Experiment.objects.get(pk=adopted.pk).hardware_snapshot


def test_upload_through_api_and_page(adopted, api, client, user, staff):
    table = HardwareProfile.objects.get(slug="local-cpu").lookup_table
    created = api.post("/api/hardware/", {"slug": "my-board", "title": "My board", "peak_gmacs": {"fp32": 10},
                                          "memory_bandwidth_gbs": 5, "memory_capacity_mb": 512}, format="json")
    assert created.status_code == 201
    r = api.post("/api/hardware/my-board/lookup-table/",
                 {"file": io.BytesIO(json.dumps(table).encode())}, format="multipart")
    assert r.status_code == 200, r.json()
    assert r.json()["has_lookup_table"] and r.json()["lookup_table_info"]["entries"] == len(table["entries"])
    # a broken table: 400 naming the problem, and the attached one is untouched
    bad = dict(table, entries={"conv-k:3": {"mean": -1}})
    r = api.post("/api/hardware/my-board/lookup-table/", bad, format="json")
    assert r.status_code == 400 and "file" in r.json()["errors"]
    assert HardwareProfile.objects.get(slug="my-board").lookup_table == table
    r = api.post("/api/hardware/my-board/lookup-table/", {"file": io.BytesIO(b"not json")}, format="multipart")
    assert r.status_code == 400
    # someone else's profile cannot be changed
    client.force_login(staff.__class__.objects.create_user("carol", password="x-pass-123"))
    r = client.post("/hardware/my-board/lookup-table/", {"remove": "1"})
    assert HardwareProfile.objects.get(slug="my-board").lookup_table is not None
    # the owner removes it from the page
    client.force_login(user)
    client.post("/hardware/my-board/lookup-table/", {"remove": "1"})
    assert HardwareProfile.objects.get(slug="my-board").lookup_table is None
    page = client.get("/hardware/local-cpu/")
    assert b"Measured networks" in page.content and b"experiment #" in page.content


def test_measure_on_device_routes_to_the_device_queue_and_measures_there(profiles, user, no_queue, media_root):
    from tests.conftest import SMOKE_ZOO

    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="raspberry-pi-4",
                                     config={**SMOKE_ZOO, "measure_on_device": True})
    assert exp.queue == "device.raspberry-pi-4" and "device.raspberry-pi-4" in exp.message
    # a worker on the device (here: this process) measures instead of estimating
    exp = services.experiment_execute(experiment_id=exp.pk)
    assert exp.status == "succeeded", exp.error
    assert exp.candidates.first().metrics["latency_source"] == "measured"
    plain = services.experiment_launch(owner=user, technique="model-zoo", hardware="raspberry-pi-4", config=SMOKE_ZOO)
    assert plain.queue == "frontier"
    plain = services.experiment_execute(experiment_id=plain.pk)
    assert plain.candidates.first().metrics["latency_source"] == "roofline"


def test_only_a_typed_output_is_adopted_not_a_file_name(profiles, user, no_queue, media_root):
    """A run whose artifacts merely look like a latency model (the old file-name
    rule) leaves the profile alone: adoption follows reporter.output()."""
    from dataclasses import dataclass
    from pathlib import Path

    from engine import ConfigBase, Summary, Technique, register_technique

    @dataclass(frozen=True)
    class Cfg(ConfigBase):
        pass

    def run(config, hardware, reporter):
        for name in ("latency-lut.json", "latency-predictor.json"):
            path = Path(reporter.workdir) / name
            path.write_text("{}")
            reporter.artifact("json", path, group="latency-model")
        return Summary(message="files only")

    techniques.names()
    register_technique(Technique(name="lookalike", title="Look-alike", summary="Test double.", config_cls=Cfg,
                                 run=run))
    try:
        exp = services.experiment_launch(owner=user, technique="lookalike", hardware="local-cpu")
        exp = services.experiment_execute(experiment_id=exp.pk)
    finally:
        techniques._items.pop("lookalike", None)
    assert exp.status == "succeeded" and exp.message == "files only"
    hw = HardwareProfile.objects.get(slug="local-cpu")
    assert hw.lookup_table is None and hw.latency_model is None
