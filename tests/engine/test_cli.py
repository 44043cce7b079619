"""``python -m engine``: list, profiles, run — flags validated before anything is written."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from engine import techniques
from engine.cli import UsageError, main, parse_sets, resolve_hardware
from engine.hardware import builtin_profiles, get_profile

ROOT = Path(__file__).resolve().parents[2]
ZOO = ["--set", "models=squeezenet1_1", "--set", "train_epochs=0", "--set", "latency_repeats=2",
       "--set", "latency_warmup=0"]


def engine_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()] if folder.exists() else []


def test_list_shows_every_technique_and_setting_from_the_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, t in techniques.items():
        assert f"{name} - {t.title}" in out
        for s in t.config_cls.specs():
            assert f"    {s.name} ({'list of ' if s.multiple else ''}{s.kind})" in out


def test_list_json_is_machine_readable(capsys):
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == techniques.names()
    zoo = next(d for d in data if d["name"] == "model-zoo")
    models = next(s for s in zoo["settings"] if s["name"] == "models")
    assert models["type"] == "list of str" and "resnet18" in models["choices"]
    assert zoo["fallback_objectives"] == {"latency_ms": "min", "params": "min"}
    assert main(["list", "no-such"]) == 2


def test_profiles_lists_the_builtin_ones(capsys):
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert all(p.name in out for p in builtin_profiles())
    assert main(["profiles", "--json"]) == 0
    assert [p["name"] for p in json.loads(capsys.readouterr().out)] == [p.name for p in builtin_profiles()]


def test_parse_sets():
    assert parse_sets([" b = x,y", "c="]) == {"b": " x,y", "c": ""}  # Config strips values
    assert parse_sets(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    for bad in (["novalue"], ["=3"], ["a=1", "a=2"]):
        with pytest.raises(UsageError):
            parse_sets(bad)


def test_hardware_from_a_yaml_or_json_file(tmp_path):
    d = get_profile("raspberry-pi-4").to_dict() | {"name": "my-pi"}
    (tmp_path / "pi.yaml").write_text(yaml.safe_dump(d))
    (tmp_path / "pi.json").write_text(json.dumps(d))
    assert resolve_hardware(str(tmp_path / "pi.yaml")).name == "my-pi"
    assert resolve_hardware(str(tmp_path / "pi.json")).memory_bandwidth_gbs == d["memory_bandwidth_gbs"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(d | {"memory_bandwidth_gbs": -1, "warp": 9}))
    with pytest.raises(UsageError, match="memory_bandwidth_gbs") as e:
        resolve_hardware(str(tmp_path / "bad.yaml"))
    assert "warp" in str(e.value)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="mapping"):
        resolve_hardware(str(tmp_path / "list.yaml"))


@pytest.mark.parametrize("argv,named", [
    (["run", "no-such", "--out", "{out}"], "no-such"),
    (["run", "model-zoo", "--hardware", "no-such-board", "--out", "{out}"], "no-such-board"),
    (["run", "model-zoo", "--set", "warp=9", "--out", "{out}"], "warp"),
    (["run", "model-zoo", "--set", "train_epochs=99", "--out", "{out}"], "train_epochs"),
    (["run", "model-zoo", "--set", "models=vgg16", "--set", "resolutions=8", "--out", "{out}"], "resolutions"),
    (["run", "model-zoo", "--set", "threads", "--out", "{out}"], "threads"),
    (["run", "model-zoo", "--seed", "1", "--set", "seed=2", "--out", "{out}"], "seed"),
])
def test_bad_flags_exit_2_naming_the_field_and_write_nothing(tmp_path, capsys, argv, named):
    out = tmp_path / "out"
    assert main([a.format(out=out) for a in argv]) == 2
    assert named in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_run_writes_the_results_folder(tmp_path, capsys):
    out = tmp_path / "sub" / "zoo"
    assert main(["run", "model-zoo", "--hardware", "local-cpu", *ZOO[2:], "--set", "models=squeezenet1_1,shufflenet_v2",
                 "--set", "widths=0.5,1", "--seed", "3", "--quiet", "--out", str(out)]) == 0
    assert sorted(leftovers(out.parent)) == ["zoo"]  # no staging folder left
    assert sorted(leftovers(out)) == ["artifacts", "candidates.csv", "candidates.json", "series.json",
                                      "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    cands = json.loads((out / "candidates.json").read_text())
    assert summary["status"] == "succeeded" and summary["config"]["seed"] == 3
    assert summary["candidates"] == len(cands) == 3 and summary["metrics"]["skipped"] == 1
    assert summary["objectives"] == {"latency_ms": "min", "params": "min"}  # untrained: the fallback
    assert summary["front"] == [c["index"] for c in cands if c["on_front"]] and summary["front"]
    rows = list(csv.DictReader((out / "candidates.csv").open()))
    assert len(rows) == 3 and {"latency_ms", "latency_source", "params", "macs", "on_front"} <= set(rows[0])
    assert rows[0]["latency_source"] == "measured"
    assert json.loads(rows[1]["architecture"]) == cands[1]["architecture"]
    assert len(summary["artifacts"]) == 3
    for a in summary["artifacts"]:
        table = json.loads((out / a["path"]).read_text())
        assert a["group"] == "layers" and table["architecture"] == cands[a["candidate"]]["architecture"]
    assert "3 candidates" in capsys.readouterr().out


def test_out_must_be_empty_unless_forced(tmp_path):
    out = tmp_path / "zoo"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    assert main(["run", "model-zoo", *ZOO, "--quiet", "--out", str(out)]) == 2
    assert leftovers(out) == ["keep.txt"]
    assert main(["run", "model-zoo", *ZOO, "--quiet", "--force", "--out", str(out)]) == 0
    assert "keep.txt" not in leftovers(out) and (out / "summary.json").is_file()
    assert sorted(leftovers(tmp_path)) == ["zoo"]


def test_a_failing_run_keeps_its_folder_with_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_DATA_DIR", str(tmp_path / "nothing-here"))
    out = tmp_path / "zoo"
    assert main(["run", "model-zoo", "--set", "dataset=cifar10", "--set", "train_epochs=1", "--quiet",
                 "--out", str(out)]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "DataError" in summary["error"] and summary["candidates"] == 0


def test_subprocess_end_to_end(tmp_path):
    out = tmp_path / "zoo"
    r = subprocess.run(engine_cmd("run", "model-zoo", "--hardware", "raspberry-pi-4", *ZOO, "--out", str(out)),
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "100%" in r.stderr  # the tqdm bar
    assert json.loads((out / "summary.json").read_text())["hardware"]["name"] == "raspberry-pi-4"
    bad = subprocess.run(engine_cmd("run", "model-zoo", "--set", "widths=9", "--out", str(tmp_path / "bad")),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "widths" in bad.stderr and not (tmp_path / "bad").exists()
    usage = subprocess.run(engine_cmd("run"), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert usage.returncode == 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_cancels_and_keeps_what_was_found(tmp_path):
    out = tmp_path / "zoo"
    p = subprocess.Popen(engine_cmd("run", "model-zoo", "--set", "models=squeezenet1_1,shufflenet_v2,mnasnet",
                                    "--set", "widths=0.5,1", "--set", "resolutions=32,64", "--set", "train_epochs=0",
                                    "--set", "latency_repeats=50", "--quiet", "--out", str(out)),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(tmp_path.glob(".zoo.partial-*/artifacts/layers/*.json")):
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGINT)
        stdout, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "cancelled" and 1 <= summary["candidates"] < 10
    assert len(json.loads((out / "candidates.json").read_text())) == summary["candidates"]
    assert "cancelled" in stdout and not list(tmp_path.glob(".zoo.partial-*"))


def test_directory_reporter_lists_typed_outputs_with_their_files(tmp_path):
    from engine.cli_reporter import DirectoryReporter
    from engine.outputs import LatencyModelOutput

    rep = DirectoryReporter(tmp_path / "run" / "artifacts", workdir=tmp_path / "work", progress_bar=False)
    lut, pred = rep.workdir / "latency-lut.json", rep.workdir / "latency-predictor.json"
    lut.write_text('{"entries": {}}')
    pred.write_text('{"weights": []}')
    rep.artifact("json", lut, "the table", group="latency-model")
    rep.output(LatencyModelOutput(lookup_table=lut, predictor=pred))
    # the table was handed over as an artifact already: listed, not copied twice
    assert rep.outputs == [{"kind": "latency-model", "lookup_table": "artifacts/latency-model/latency-lut.json",
                            "predictor": "artifacts/latency-model/latency-predictor.json"}]
    assert sorted(p.name for p in (tmp_path / "run" / "artifacts" / "latency-model").iterdir()) == [
        "latency-lut.json", "latency-predictor.json"]


def test_a_summary_with_nan_and_tables_is_written_as_json(tmp_path):
    """A NaN figure (a Kendall tau of two held-out rows) is null in summary.json,
    not a crash at the end of a run, and a technique's rows stay JSON."""
    import math

    import numpy as np

    from engine.cli_reporter import DirectoryReporter
    from engine.reporter import Summary
    from engine.results import write_results

    t = techniques.get("model-zoo")
    rep = DirectoryReporter(tmp_path / "work")
    s = Summary("done", {"tau": math.nan, "rows": [{"profile": "p", "ms": np.float64(2.5), "holds": True}]})
    out = write_results(tmp_path, t, t.parse({}), get_profile("local-cpu"), rep, s, "succeeded", "", time.time())
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["metrics"] == out["metrics"] == {"tau": None, "rows": [{"profile": "p", "ms": 2.5, "holds": True}]}
