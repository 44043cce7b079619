"""The engine contract, for every registered technique (read from the registry):
its Config is declared properly, its ``smoke`` config runs, reports progress and
JSON-ready candidates carrying its objectives, and a cancel gets through."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine import Cancelled, ConfigError, MemoryReporter, Summary, techniques
from engine.hardware import get_profile
from engine.networks import load_network
from engine.outputs import NetworkOutput
from engine.reporter import ARTIFACT_KINDS

ROOT = Path(__file__).resolve().parents[2]
TECHNIQUES = techniques.items()
IDS = [name for name, _ in TECHNIQUES]


def _smoke(t, tmp_path):
    """The technique's smoke config; a ``network`` setting it cannot run without
    gets a small saved network (a torchvision MobileNetV2 at width 0.25)."""
    data = dict(t.smoke)
    try:
        return t.parse(data)
    except ConfigError as e:
        needed = [s.name for s in t.config_cls.specs() if s.network and s.name in e.errors]
        if not needed:
            raise
    from engine.modelzoo.zoo import build_model
    from engine.networks import Network, NetworkSpec, save_network
    from engine.problems import ImageClassification

    spec = NetworkSpec("torchvision", {"model": "mobilenet_v2", "width": 0.25})
    folder = save_network(build_model("mobilenet_v2", width=0.25), Network(
        name="smoke", spec=spec, problem=ImageClassification(3, 32, 10)), tmp_path / "nets")
    return t.parse({**data, **{n: str(folder) for n in needed}})


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@pytest.mark.parametrize("name,t", TECHNIQUES, ids=IDS)
def test_config_is_declared_with_help_bounds_and_a_valid_smoke(name, t, tmp_path):
    specs = t.config_cls.specs()
    assert specs, f"{name} has no settings"
    for s in specs:
        assert s.help.strip(), f"{name}.{s.name} has no help"
        if s.kind in ("int", "float") and s.choices is None:
            assert s.min is not None and s.max is not None, f"{name}.{s.name} needs min and max"
    assert set(t.smoke) <= {s.name for s in specs}
    smoke = _smoke(t, tmp_path)  # (defaults may depend on state, e.g. a checkpoint that exists)
    assert t.parse(smoke.to_dict()) == smoke
    assert len(t.axes) == 2 and t.objectives


@pytest.mark.parametrize("name,t", TECHNIQUES, ids=IDS)
def test_smoke_config_runs_and_reports(name, t, tmp_path):
    rep = MemoryReporter(tmp_path)
    summary = t.run(_smoke(t, tmp_path), get_profile("local-cpu"), rep)
    assert isinstance(summary, Summary) and isinstance(summary.message, str)
    json.dumps(summary.metrics, allow_nan=True)
    assert rep.progresses and all(0.0 <= f <= 1.0 for f, _ in rep.progresses)
    assert rep.candidates, f"{name} reported no candidate"
    for arch, metrics in rep.candidates:
        assert isinstance(arch, dict) and isinstance(metrics, dict)
        json.dumps(arch, allow_nan=False)
        json.dumps(metrics, allow_nan=False)
    names = {k for _, m in rep.candidates for k, v in m.items() if _numeric(v)}
    objectives = t.objectives_for(names)
    present = [m for m in objectives if m in names]
    assert present, f"{name}: candidates carry none of its objectives {objectives}"
    assert any(all(_numeric(m.get(k)) for k in present) for _, m in rep.candidates)
    for kind, path, _, _, index in rep.artifacts:
        assert kind in ARTIFACT_KINDS and Path(path).is_file()
        assert index is None or 0 <= index < len(rep.candidates)
    assert all(math.isfinite(v) for _, _, v in rep.points)
    for out in rep.outputs:  # a kept network rebuilds from its spec with its weights
        if isinstance(out, NetworkOutput):
            net, module = load_network(out.folder)
            assert out.candidate is None or 0 <= out.candidate < len(rep.candidates)
            module(*net.problem.example_inputs())


@pytest.mark.parametrize("name,t", TECHNIQUES, ids=IDS)
def test_smoke_config_lets_a_cancel_through(name, t, tmp_path):
    rep = MemoryReporter(tmp_path, cancel_after=1)
    with pytest.raises(Cancelled):
        t.run(_smoke(t, tmp_path), get_profile("local-cpu"), rep)


def test_engine_and_a_technique_run_without_django():
    """In a fresh interpreter: pytest-django has imported django into this one."""
    code = textwrap.dedent("""
        import sys
        import engine
        from engine import MemoryReporter, techniques
        from engine.hardware import get_profile
        names = techniques.names()  # imports every built-in technique
        t = techniques.get("model-zoo")
        t.run(t.parse(t.smoke), get_profile("local-cpu"), MemoryReporter())
        import engine.cli
        bad = sorted(m for m in sys.modules
                     if m.split(".")[0] in ("django", "celery", "rest_framework", "webapp", "tasks", "plotly"))
        assert not bad, bad
        print(len(names))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) == len(TECHNIQUES)
