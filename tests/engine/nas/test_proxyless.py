import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.nas.proxyless import ArchStep, ProxylessSuperNet, latency_loss
from engine.spaces.mbconv import MBConvSpace


def _net(sharing="elastic"):
    torch.manual_seed(0)
    space = MBConvSpace(widths=(8, 16), strides=(1, 2), resolutions=(12,), stem_width=8, stem_stride=2,
                        head_width=16)
    return ProxylessSuperNet(space, 12, num_classes=3, in_channels=1, weight_sharing=sharing)


SHARING = pytest.mark.parametrize("sharing", ["elastic", "separate"])


def _table(net):
    return [[1.0 + c for c in range(m.n)] for m in net.mixed]


def test_expected_latency_gradient_reaches_every_alpha():
    net = _net()
    table = _table(net)
    e = net.expected_latency(table, fixed_ms=2.0)
    uniform = sum(np.mean(row) for row in table) + 2.0
    assert abs(float(e) - uniform) < 1e-4  # alpha = 0: uniform probabilities
    loss = latency_loss(torch.tensor(1.5), e, target_ms=5.0, mode="mul", beta=0.3)
    loss.backward()
    for m, row in zip(net.mixed, table):
        g = m.alpha.grad
        assert g is not None and torch.all(torch.isfinite(g))
        # d E / d alpha_i = p_i (lat_i - E_block): slower ops get larger gradients (pushed down)
        assert torch.all(torch.diff(g) > 0)


@SHARING
def test_arch_step_moves_only_sampled_paths_by_ce_and_all_by_latency(sharing):
    net = _net(sharing)
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.01, betas=(0.0, 0.999))
    step = ArchStep(net, opt, _table(net), 0.0, 5.0, np.random.default_rng(0), mode="add", lam=0.0)
    x, y = torch.randn(4, 1, 12, 12), torch.tensor([0, 1, 2, 0])
    before = [m.alpha.detach().clone() for m in net.mixed]
    step(x, y)
    for m, b in zip(net.mixed, before):
        moved = torch.nonzero(m.alpha.detach() != b).flatten().tolist()
        assert set(moved) <= set(m.sampled)  # lambda = 0: only the two sampled paths change
    assert all(p.grad is None for p in net.weight_parameters())


@SHARING
def test_binary_gate_gradient_is_inner_product(sharing):
    net = _net(sharing)
    m = net.mixed[1]
    m.sampled, m.mode = (0, 3), "arch"
    x = torch.randn(2, 8, 6, 6)
    out = m(x)
    w = torch.randn_like(out)
    (out * w).sum().backward()
    with torch.no_grad():
        expect = torch.stack([(m.run(0, x) * w).sum(), (m.run(3, x) * w).sum()])
    torch.testing.assert_close(m._gates.grad, expect, rtol=1e-4, atol=1e-4)


@SHARING
def test_derived_network_carries_chosen_weights(sharing):
    net = _net(sharing).eval()
    with torch.no_grad():
        for m in net.mixed:
            m.alpha[int(torch.randint(m.n, ()))] = 5.0
    arch, model = net.extract()
    net.set_mode("eval")
    x = torch.randn(2, 1, 12, 12)
    torch.testing.assert_close(model.eval()(x), net(x), rtol=0, atol=1e-6)
    assert all(2 <= d <= 4 for d in arch["depths"])


@SHARING
def test_weight_step_memory_is_one_path(sharing):
    from engine.nas.memory import peak_allocated_bytes
    net = _net(sharing).train()
    rng = np.random.default_rng(0)
    net.binarize(rng, two=False)
    x, y = torch.randn(16, 1, 12, 12), torch.randint(0, 3, (16,))
    idx = [m.active for m in net.mixed]
    _, static = net.extract(idx)
    static.train()
    one = peak_allocated_bytes(lambda: F.cross_entropy(static(x), y).backward())
    mixed = peak_allocated_bytes(lambda: F.cross_entropy(net(x), y).backward())
    assert one > 0 and mixed < 2 * one


def test_shared_candidates_are_slices_of_one_block():
    net = _net("elastic")
    m = net.mixed[1]
    assert sum(p.numel() for p in m.parameters()) < 2 * sum(p.numel() for p in m.static_op(m.n - 2).parameters())
    with torch.no_grad():
        m.shared.depthwise.weight.mul_(1.5)  # every candidate sees the change
    x = torch.randn(2, 8, 6, 6)
    m.eval()
    for i in range(m.n):
        torch.testing.assert_close(m.static_op(i).eval()(x), m.run(i, x), rtol=1e-5, atol=1e-5)


def test_random_paths_train_when_weights_are_shared():
    """Every step draws an independent op per block; with elastic sharing the
    weights still learn (a class-dependent blob task)."""
    torch.manual_seed(0)
    net = _net("elastic").train()
    rng = np.random.default_rng(0)
    y = torch.randint(0, 3, (96,))
    x = torch.randn(96, 1, 12, 12) * 0.3
    for c in range(3):
        x[y == c, :, 4 * c:4 * c + 4, :] += 2.0
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.05, momentum=0.9)
    losses = []
    for step in range(60):
        idx = torch.from_numpy(rng.choice(96, 32, replace=False))
        net.binarize(rng, two=False)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[:5]) > 0.9 and np.mean(losses[-10:]) < 0.3
