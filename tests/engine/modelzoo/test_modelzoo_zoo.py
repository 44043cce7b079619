"""The zoo's builders: every family builds, widths scale, unsupported widths are refused."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.modelzoo.zoo import MODELS, WidthError, build_model, supports_width, width_support


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_family_builds_with_the_datasets_classes(name):
    model = build_model(name, width=1.0, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert out.abs().max() < 5  # head starts small whatever the family


@pytest.mark.parametrize("name,widths", [("mobilenet_v2", (0.35, 0.5, 1.0, 1.4)),
                                         ("mobilenet_v3_small", (0.5, 0.75, 1.0)),
                                         ("mnasnet", (0.5, 1.0, 1.3)),
                                         ("shufflenet_v2", (0.5, 1.0, 1.5))])
def test_width_grows_the_network(name, widths):
    sizes = [n_params(build_model(name, width=w, num_classes=10)) for w in widths]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_width_support_table():
    assert supports_width("mobilenet_v2", 0.3) and supports_width("mnasnet", 1.3)
    assert not supports_width("mobilenet_v2", 2.5)
    assert supports_width("shufflenet_v2", 1.5) and not supports_width("shufflenet_v2", 0.75)
    for fixed in ("resnet18", "squeezenet1_1", "efficientnet_b0"):
        assert supports_width(fixed, 1.0) and not supports_width(fixed, 0.5)
    assert "0.5, 1, 1.5, 2" in width_support("shufflenet_v2")


def test_unsupported_width_or_model_is_refused():
    with pytest.raises(WidthError, match="resnet18"):
        build_model("resnet18", width=0.5)
    with pytest.raises(KeyError, match="known"):
        build_model("alexnet")


def test_same_seed_same_weights():
    def weights(seed):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return torch.cat([p.flatten() for p in build_model("shufflenet_v2", width=0.5).parameters()])
    assert torch.equal(weights(3), weights(3)) and not torch.equal(weights(3), weights(4))
