"""Profiles and the cost model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.hardware import HardwareProfile, ProfileError, builtin_profiles, get_profile, profile_model


def test_catalogue_has_the_required_kinds_and_sources():
    profiles = builtin_profiles()
    assert len(profiles) >= 8
    kinds = {p.kind for p in profiles}
    assert {"cpu", "phone", "embedded-gpu", "gpu", "mcu", "accelerator"} <= kinds
    assert all(p.source for p in profiles)
    assert any(p.bit_flexible for p in profiles)


def test_mcu_limits_and_bitfusion_scaling():
    mcu = get_profile("stm32f746")
    assert mcu.memory_capacity_mb == pytest.approx(320 / 1024) and mcu.storage_mb == 1.0
    bf = get_profile("bitfusion")
    assert bf.peak_bits(8, 8) == pytest.approx(256.0)
    assert bf.peak_bits(4, 4) == pytest.approx(4 * bf.peak_bits(8, 8))
    assert bf.peak_bits(2, 8) == pytest.approx(bf.peak_bits(4, 4))
    # a fixed-precision device uses the precision holding the wider operand
    pi = get_profile("raspberry-pi-4")
    assert pi.peak_bits(4, 8) == pi.peak("int8") and pi.peak_bits(32, 8) == pi.peak("fp32")


def test_profile_validation_reports_each_bad_field():
    with pytest.raises(ProfileError) as e:
        HardwareProfile.from_dict({"name": "bad name!", "kind": "toaster", "peak_gmacs": {"fp64": 1},
                                   "memory_bandwidth_gbs": -1, "bit_flexible": "yes"})
    assert {"name", "kind", "peak_gmacs", "memory_bandwidth_gbs", "bit_flexible"} <= set(e.value.errors)


def test_cost_model_counts_depthwise_and_memory():
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.Conv2d(8, 16, 1, bias=False),
                          nn.ReLU(), nn.Flatten(), nn.Linear(16 * 4 * 4, 10))
    cost = profile_model(model, (torch.zeros(1, 8, 4, 4),))
    dw, pw = cost.layers[0], cost.layers[1]
    assert dw.depthwise and not pw.depthwise
    assert dw.macs == 8 * 4 * 4 * 9 and pw.macs == 16 * 4 * 4 * 8
    assert cost.params == 72 + 128 + 256 * 10 + 10
    assert cost.layers[0].weight_bytes("int8") == 72 and cost.layers[0].weight_bytes(4) == 36
    tm = cost.training_memory("fp32", "adam")
    assert tm.params == tm.grads == cost.params * 4 and tm.optimizer_state == 2 * cost.params * 4
    assert tm.total > cost.training_memory("fp32", "sgd").total
    assert cost.peak_activation_at("int8") == pytest.approx(cost.peak_activation_bytes / 4)


def test_cost_model_attention():
    mha = nn.MultiheadAttention(16, 2, batch_first=True)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = mha

        def forward(self, x):
            return self.attn(x, x, x)[0]

    cost = profile_model(Wrap(), (torch.zeros(1, 5, 16),))
    assert cost.macs == 4 * 5 * 16 * 16 + 2 * 5 * 5 * 16
    assert torch.is_tensor(torch.zeros(1))
