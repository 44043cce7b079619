"""Feature extractor adaptation: the super-net, the backprop-free selection, the sub-net under TinyTL."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engine.config import ConfigError
from engine.registry import techniques
from engine.reporter import MemoryReporter
from engine.supernet import MBConvSuperNet
from engine.tinytl.adaptation import (SupernetTask, adapt_subnet, fa_space, frozen_features, pretrained_supernet,
                                      ridge_cv_accuracy, select_subnet, tinytl_lb_memory)
from engine.tinytl.lite_residual import LiteResidual
from engine.tinytl.methods import apply_method, classifier_of, prepare

RES = 16
SHAPE = (3, RES, RES)
BIG = SimpleNamespace(name="big", kind="gpu", memory_capacity_mb=1e5, onchip_memory_kb=1, storage_mb=0)


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    net = MBConvSuperNet(fa_space(0.25, RES), num_classes=3, in_channels=3)
    g = torch.Generator().manual_seed(1)
    for mod in net.modules():  # non-trivial statistics, as a trained super-net has
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_var.uniform_(0.5, 2.0, generator=g)
    return net.eval()


@pytest.fixture(scope="module")
def target():
    g = torch.Generator().manual_seed(2)
    y = torch.arange(40) % 3
    x = torch.randn(40, *SHAPE, generator=g) + y.view(-1, 1, 1, 1) * 0.5
    return x, y


def test_ridge_score_separates_signal_from_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 3
    signal = torch.randn(120, 8, generator=g) * 0.1 + torch.nn.functional.one_hot(y, 8).float()
    noise = torch.randn(120, 8, generator=g)
    assert ridge_cv_accuracy(signal, y, 3) > 0.95
    assert ridge_cv_accuracy(noise, y, 3) < 0.65


def test_selection_is_backprop_free(supernet, target, monkeypatch):
    x, y = target
    graphs, saved = [], []

    def forbid(*a, **k):
        raise AssertionError("back-propagation during the selection")

    monkeypatch.setattr(torch.Tensor, "backward", forbid)
    monkeypatch.setattr(torch.autograd, "backward", forbid)
    monkeypatch.setattr(torch.autograd, "grad", forbid)

    def on_forward(module, args, out):
        if isinstance(out, torch.Tensor) and out.grad_fn is not None:
            graphs.append(type(module).__name__)

    hook = torch.nn.modules.module.register_module_forward_hook(on_forward)
    try:
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
            sel = select_subnet(supernet, x, y, num_classes=3, budget_bytes=float("inf"), hardware=BIG, evaluations=6,
                                rng=np.random.default_rng(0))
    finally:
        hook.remove()
    assert len(sel.trials) == 6 and sel.best is not None
    assert not graphs, f"autograd graph built by {sorted(set(graphs))}"
    assert not saved, "tensors saved for a backward pass"
    assert all(p.grad is None for p in supernet.parameters())
    assert all(0.0 <= t.score <= 1.0 for t in sel.trials)
    assert len({str(t.arch) for t in sel.trials}) == 6  # distinct sub-nets
    assert sel.best.score == max(t.score for t in sel.trials)


@pytest.mark.parametrize("search", ["evolution", "random"])
def test_chosen_subnet_respects_the_memory_budget_and_the_device(supernet, target, search):
    x, y = target
    space = supernet.space
    mems = sorted(tinytl_lb_memory(space, a, num_classes=3).total_bytes
                  for a in space.sample_many(np.random.default_rng(5), 30))
    budget = mems[len(mems) // 3]
    sel = select_subnet(supernet, x, y, num_classes=3, budget_bytes=budget, hardware=BIG, evaluations=5,
                        rng=np.random.default_rng(1), search=search)
    assert sel.best is not None and sel.trials
    assert all(t.memory_bytes <= budget for t in sel.trials)
    assert tinytl_lb_memory(space, sel.best.arch, num_classes=3).total_bytes <= budget
    assert sel.rejected > 0  # two thirds of the space lie above the budget
    # the device: a microcontroller whose SRAM holds only the smallest sub-nets' mutable state
    first = tinytl_lb_memory(space, sel.best.arch, num_classes=3)
    sram_kb = (first.activation_bytes + first.trainable_param_bytes) / 1024
    mcu = SimpleNamespace(name="mcu", kind="mcu", memory_capacity_mb=1.0, onchip_memory_kb=sram_kb, storage_mb=1.0)
    sel2 = select_subnet(supernet, x, y, num_classes=3, budget_bytes=float("inf"), hardware=mcu, evaluations=3,
                         rng=np.random.default_rng(2), search=search)
    assert sel2.best is not None and all(t.fits_device for t in sel2.trials)
    for t in sel2.trials:
        m = tinytl_lb_memory(space, t.arch, num_classes=3)
        assert m.activation_bytes + m.trainable_param_bytes <= sram_kb * 1024
    none = select_subnet(supernet, x, y, num_classes=3, budget_bytes=1.0, hardware=BIG, evaluations=3,
                         rng=np.random.default_rng(3), search=search)
    assert none.best is None and not none.trials


def test_tolerance_trades_score_for_memory(supernet, target):
    x, y = target
    args = dict(num_classes=3, budget_bytes=float("inf"), hardware=BIG, evaluations=6, search="random")
    best = select_subnet(supernet, x, y, rng=np.random.default_rng(4), **args)
    frugal = select_subnet(supernet, x, y, rng=np.random.default_rng(4), tolerance=1.0, **args)
    assert [t.arch for t in best.trials] == [t.arch for t in frugal.trials]
    assert frugal.best.memory_bytes == min(t.memory_bytes for t in frugal.trials)
    assert frugal.best.memory_bytes <= best.best.memory_bytes


def test_subnet_takes_tinytl_lb(supernet, target):
    x, _ = target
    arch = supernet.space.sample(np.random.default_rng(6))
    sub = adapt_subnet(supernet, arch, x, num_classes=5, generator=torch.Generator().manual_seed(0))
    assert classifier_of(sub).out_features == 5 and not sub.training
    feats = frozen_features(sub, x)
    assert feats.shape == (len(x), classifier_of(sub).in_features) and not feats.requires_grad
    counted = apply_method(sub, "tinytl-lb", input_shape=SHAPE)
    lites = [m for m in counted.modules() if isinstance(m, LiteResidual)]
    assert len(lites) == sum(arch["depths"])  # every searched block; the fixed first block gets none
    assert classifier_of(counted).weight.requires_grad and not counted.stem[0].weight.requires_grad
    model = prepare(sub, "tinytl-lb", input_shape=SHAPE).eval()
    with torch.no_grad():  # lite residuals start as a zero contribution
        assert torch.allclose(model(x[:4]), sub(x[:4]), atol=1e-4)


def test_supernet_is_pretrained_on_the_source_classes_and_cached(cache):
    task = SupernetTask(dataset="digits", classes="0-2", resolution=RES, width_mult=0.25, epochs=1, train_limit=60)
    net1, info1 = pretrained_supernet(task)
    net2, info2 = pretrained_supernet(task)
    assert not info1["cached"] and info2["cached"] and info1["path"] == info2["path"]
    assert info1["path"].startswith(str(cache)) and info1["path"].endswith(".safetensors")
    assert net1.num_classes == 3  # source classes only: the target classes are never seen
    assert all(torch.equal(a, b) for a, b in zip(net1.state_dict().values(), net2.state_dict().values()))


def test_fa_config_fields_are_validated():
    t = techniques.get("tinytl")
    for bad in ({"fa_subnets": 1}, {"fa_subnets": 1001}, {"fa_search": "grid"}, {"fa_memory_budget_kb": -1},
                {"fa_tolerance": 0.5}, {"fa_supernet_epochs": 0}, {"methods": ["tinytl-lb-fa", "fa"]}):
        with pytest.raises(ConfigError) as e:
            t.parse(bad)
        assert set(e.value.errors) == set(bad) - {"_"}, bad
    cfg = t.parse({"methods": ["ft-full", "tinytl-lb-fa"], "fa_subnets": 8, "fa_search": "random"})
    assert cfg.methods == ("ft-full", "tinytl-lb-fa") and cfg.fa_subnets == 8
    assert "tinytl-lb-fa" in t.parse({}).methods


def test_fa_skipped_when_no_subnet_fits_the_budget(cache):
    t = techniques.get("tinytl")
    cfg = t.parse({**t.smoke, "methods": ["ft-last", "tinytl-lb-fa"], "fa_memory_budget_kb": 1.0})
    rep = MemoryReporter()
    summary = t.run(cfg, BIG, rep)
    assert [a["method"] for a, _ in rep.candidates] == ["ft-last"]
    assert "no sub-net within the memory budget" in summary.message
    assert "memory_reduction_fa_measured" not in summary.metrics
