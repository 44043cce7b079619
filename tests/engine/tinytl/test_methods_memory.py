import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from engine.tinytl.lite_residual import LiteResidual, LiteResidualBlock, LiteSpec, attach_lite_residuals
from engine.tinytl.memory import (MB, analytic_memory, fits_profile, measure_training_memory,
                                  saved_activation_bytes)
from engine.tinytl.methods import METHODS, apply_method, prepare, trainable_params
from engine.tinytl.mobilenet import PROXYLESS_MOBILE_SETTINGS, TINY_SETTINGS, MobileNetArch, build_mobilenet

ARCH = MobileNetArch(width_mult=0.5, settings=TINY_SETTINGS, last_channels=64, num_classes=4)
SHAPE = (3, 24, 24)


@pytest.fixture(scope="module")
def net():
    m = build_mobilenet(ARCH, seed=3)
    # give the batch norms non-trivial statistics, as a trained network has
    g = torch.Generator().manual_seed(4)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5, generator=g)
            mod.running_var.uniform_(0.5, 2.0, generator=g)
            with torch.no_grad():
                mod.bias.uniform_(-0.2, 0.2, generator=g)
    return m


def _batch(n=4):
    g = torch.Generator().manual_seed(5)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, 4, (n,), generator=g)


def test_engine_imports_no_django():
    # in a fresh interpreter: the test session itself may have Django loaded by pytest-django
    code = "import sys, engine.tinytl; bad = [m for m in ('django', 'celery', 'webapp', 'plotly') if m in sys.modules]; " \
           "assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


def test_trainable_sets(net):
    counts = {m: trainable_params(apply_method(net, m)) for m in METHODS}
    assert counts["ft-full"] == sum(p.numel() for p in net.parameters())
    assert counts["ft-last"] == sum(p.numel() for p in net.classifier.parameters())
    assert counts["ft-last"] < counts["tinytl-b"] < counts["ft-norm-last"] < counts["ft-full"]
    assert counts["tinytl-lb"] > counts["tinytl-b"]


@pytest.mark.parametrize("method", ["tinytl-b", "tinytl-lb", "ft-last", "ft-norm-last"])
def test_efficient_layers_match_stock(net, method):
    x, y = _batch()
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    stock = prepare(net, method, efficient=False, input_shape=SHAPE, generator=g1)
    eff = prepare(net, method, efficient=True, input_shape=SHAPE, generator=g2)
    if method == "tinytl-lb":  # make the lite residuals contribute so their gradients are not trivial
        for m in (stock, eff):
            for mod in m.modules():
                if isinstance(mod, LiteResidual):
                    torch.nn.init.constant_(mod.norm2.weight, 0.5)
    outs, grads = [], []
    for m in (stock, eff):
        m.train()
        out = m(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        outs.append(out.detach())
        grads.append(sorted((p.numel(), float(p.grad.abs().sum())) for p in m.parameters() if p.requires_grad))
    assert torch.allclose(outs[0], outs[1], atol=1e-4)
    assert len(grads[0]) == len(grads[1])
    for (n0, s0), (n1, s1) in zip(grads[0], grads[1]):
        assert n0 == n1 and s0 == pytest.approx(s1, rel=1e-3, abs=1e-6)


def test_bias_only_saves_far_less_with_efficient_layers(net):
    batch = _batch(8)
    stock = saved_activation_bytes(prepare(net, "tinytl-b", efficient=False), batch)
    eff = saved_activation_bytes(prepare(net, "tinytl-b", efficient=True), batch)
    full = saved_activation_bytes(prepare(net, "ft-full", efficient=False), batch)
    assert stock > 0.8 * full  # stock autograd hardly saves anything by freezing weights
    assert eff < 0.1 * stock


def test_measured_breakdown_consistent(net):
    opt = lambda ps: torch.optim.Adam(ps, lr=1e-3)  # noqa: E731
    model = prepare(net, "tinytl-lb", input_shape=SHAPE)
    mem = measure_training_memory(model, _batch(8), make_optimizer=opt)
    trainable = trainable_params(model) * 4
    assert mem.trainable_param_bytes == trainable and mem.grad_bytes == trainable
    assert 2 * trainable <= mem.optimizer_bytes <= 2 * trainable + 4 * 1000  # exp_avg, exp_avg_sq (+ steps)
    assert mem.total_bytes == mem.activation_bytes + mem.param_bytes + mem.grad_bytes + mem.optimizer_bytes
    mem2 = measure_training_memory(model, _batch(16), make_optimizer=opt)
    assert mem2.activation_bytes > 1.8 * mem.activation_bytes and mem2.param_bytes == mem.param_bytes


def test_analytic_order_at_paper_setting():
    paper = build_mobilenet(MobileNetArch(settings=PROXYLESS_MOBILE_SETTINGS, num_classes=1000))
    assert sum(p.numel() for p in paper.parameters()) == 4_080_512  # ProxylessNAS-Mobile's parameter count
    paper.reset_classifier(102)
    tot = {m: analytic_memory(apply_method(paper, m, input_shape=(3, 224, 224)), (3, 224, 224), batch_size=8).total_bytes
           for m in ("ft-full", "ft-norm-last", "tinytl-lb", "ft-last")}
    assert tot["ft-full"] > tot["ft-norm-last"] > tot["tinytl-lb"] > tot["ft-last"]
    # within 15 % of the paper's Table 2 (ProxylessNAS-Mobile, 224 px, batch 8)
    for m, table2_mb in {"ft-full": 391, "ft-norm-last": 192, "tinytl-lb": 37, "ft-last": 31}.items():
        assert tot[m] / MB == pytest.approx(table2_mb, rel=0.15), m
    assert tot["ft-full"] / tot["tinytl-lb"] > 6.5


def test_analytic_matches_measured_stored_activations(net):
    # the efficient layers realise the paper's count of stored activations (within the loss and small extras)
    for method in ("ft-full", "ft-norm-last", "tinytl-lb"):
        a = analytic_memory(apply_method(net, method, input_shape=SHAPE), SHAPE, batch_size=8)
        m = saved_activation_bytes(prepare(net, method, input_shape=SHAPE), _batch(8))
        assert m == pytest.approx(a.stored_bytes_per_sample * 8, rel=0.15), method


def test_lite_residual_starts_as_identity_contribution(net):
    block = net.features[2]
    x = torch.randn(2, block.cin, 12, 12)
    wrapped = LiteResidualBlock(block, LiteResidual(block.cin, block.cout, block.stride))
    wrapped.eval(), block.eval()
    assert torch.equal(wrapped(x), block(x))
    torch.nn.init.constant_(wrapped.lite.norm2.weight, 1.0)
    assert not torch.allclose(wrapped(x), block(x))


def test_attach_lite_residuals_shapes(net):
    m = apply_method(net, "tinytl-lb", input_shape=SHAPE)
    lites = [mod for mod in m.modules() if isinstance(mod, LiteResidual)]
    n_blocks = sum(n for _, _, n, _ in TINY_SETTINGS)
    assert len(lites) == n_blocks - 1  # the first block (stem resolution) gets none
    assert all(lr.conv1.kernel_size[0] <= 5 and lr.conv1.groups in (1, 2) for lr in lites)
    assert lites[-1].conv1.kernel_size[0] == 1  # 3x3 -> pooled 1x1: the kernel shrinks
    assert m(torch.randn(2, *SHAPE)).shape == (2, 4)
    assert attach_lite_residuals(build_mobilenet(ARCH), LiteSpec(skip_first=False)) == n_blocks


def test_fits_profile_mcu_and_capacity():
    mcu = SimpleNamespace(name="mcu", kind="mcu", memory_capacity_mb=0.3125, onchip_memory_kb=320, storage_mb=1.0)
    ok, _ = fits_profile(mcu, activation_bytes=100e3, trainable_param_bytes=20e3, frozen_param_bytes=500e3)
    assert ok
    bad_sram, why = fits_profile(mcu, activation_bytes=400e3, trainable_param_bytes=0, frozen_param_bytes=0)
    assert not bad_sram and "SRAM" in why
    bad_flash, why = fits_profile(mcu, activation_bytes=1e3, trainable_param_bytes=0, frozen_param_bytes=2 * MB)
    assert not bad_flash and "flash" in why
    gpu = SimpleNamespace(name="gpu", kind="gpu", memory_capacity_mb=100, onchip_memory_kb=1, storage_mb=0)
    assert fits_profile(gpu, activation_bytes=50 * MB, trainable_param_bytes=0, frozen_param_bytes=10 * MB)[0]
    assert not fits_profile(gpu, activation_bytes=95 * MB, trainable_param_bytes=0, frozen_param_bytes=10 * MB)[0]
    # the measured peak holds the transient buffers the breakdown leaves out: it decides when it is larger
    ok, _ = fits_profile(mcu, activation_bytes=100e3, trainable_param_bytes=20e3, frozen_param_bytes=500e3,
                         peak_bytes=900e3)
    assert not ok  # 400 KB of mutable memory at the peak, 320 KB of SRAM
    assert fits_profile(mcu, activation_bytes=100e3, trainable_param_bytes=20e3, frozen_param_bytes=500e3,
                        peak_bytes=700e3)[0]


def test_mobilenet_is_built_from_engine_nn_blocks(net):
    from engine.nn import ConvBNAct, MBConvBlock

    blocks = [m for m in net.features if isinstance(m, MBConvBlock)]
    assert len(blocks) == sum(n for _, _, n, _ in TINY_SETTINGS)
    assert isinstance(net.features[0], ConvBNAct) and isinstance(net.features[-1], ConvBNAct)


def test_lite_residuals_go_beside_block_types_not_class_names():
    class InvertedResidual(torch.nn.Module):  # the old name, not a registered block type
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return x + self.conv(x)

    model = torch.nn.Sequential(InvertedResidual(), InvertedResidual())
    assert attach_lite_residuals(model, LiteSpec(skip_first=False)) == 0
    assert attach_lite_residuals(model, LiteSpec(skip_first=False), block_types=(InvertedResidual,)) == 2
    assert model(torch.randn(1, 8, 8, 8)).shape == (1, 8, 8, 8)


def test_lite_residuals_on_torchvision_mobilenet_v2():
    from torchvision.models import mobilenet_v2
    from torchvision.models.mobilenetv2 import InvertedResidual

    tv = mobilenet_v2(weights=None, width_mult=0.25, num_classes=3)
    n = sum(isinstance(m, InvertedResidual) for m in tv.modules())
    m = apply_method(tv, "ft-last")
    assert attach_lite_residuals(m, LiteSpec(), input_shape=(3, 32, 32), block_types=(InvertedResidual,)) == n - 1
    assert m.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 3)


class _Transient(torch.nn.Module):
    """A big temporary in forward that autograd does not save (repeat, then sum)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 24 * 24, 4)

    def forward(self, x):
        wide = x.repeat(1, 64, 1, 1)  # 64x the input, freed before backward
        return self.fc((wide.sum(1, keepdim=True).expand_as(x) / 64).flatten(1))


def test_peak_of_a_whole_step_includes_transient_buffers():
    from engine.tinytl.memory import peak_from_events
    assert peak_from_events([(2, -50), (0, 100), (1, 30), (3, 10)], start_bytes=5) == 135
    x, y = _batch(4)
    mem = measure_training_memory(_Transient(), (x, y), make_optimizer=lambda ps: torch.optim.Adam(ps))
    transient = x.numel() * 64 * 4
    assert mem.activation_bytes < transient  # the saved-tensor count never sees it
    assert mem.peak_bytes >= transient + mem.param_bytes + x.numel() * 4
    assert mem.peak_bytes > mem.total_bytes and mem.to_dict()["peak_bytes"] == mem.peak_bytes
