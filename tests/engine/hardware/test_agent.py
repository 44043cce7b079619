"""The device agent writes a table the upload validator accepts."""
from __future__ import annotations

import json

from engine.hardware import validate_lut_json
from engine.hardware.agent import main


def test_agent_writes_a_valid_table(tmp_path, monkeypatch):
    import engine.hardware.agent as agent
    from engine.spaces import MBConvSpace
    small = MBConvSpace(widths=(8,), strides=(2,), resolutions=(16,), stem_width=8, head_width=16, depths=(1, 2),
                        kernels=(3,), expands=(3,))
    monkeypatch.setattr("engine.spaces.get_space", lambda name, **kw: small)
    out = tmp_path / "lut.json"
    assert main(["--space", "mbconv", "--out", str(out), "--samples", "3", "--repeats", "1", "--warmup", "0",
                 "--rounds", "1", "--quiet", "--device", "cpu"]) == 0
    table = validate_lut_json(out.read_bytes())
    assert table.covers(small) and len(table.samples) == 3
    assert {"device", "threads", "torch_version", "date", "protocol"} <= set(table.meta)
    assert "calibration" in table.meta and agent.__doc__ and "synchronize" in agent.__doc__
    assert json.loads(out.read_text())["format"] == "frontier-latency-lut"
