import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import gradcheck

from engine.tinytl.functions import (channel_affine, frozen_conv2d, masked_relu, mean_pool, pack_bits,
                                     quantize_per_channel, unpack_bits)
from engine.tinytl.layers import EvalBatchNorm2d, FrozenBatchNorm2d, FrozenConv2d, MaskedReLU, MeanPool


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 64, 1001])
def test_pack_bits_roundtrip(n):
    m = torch.rand(n, generator=_g(n)) > 0.5
    packed = pack_bits(m)
    assert packed.dtype == torch.uint8 and packed.numel() == (n + 7) // 8
    assert torch.equal(unpack_bits(packed, m.shape), m)


@pytest.mark.parametrize("stride,groups", [(1, 1), (2, 2), (1, 4)])
def test_frozen_conv_gradcheck(stride, groups):
    x = torch.randn(2, 4, 6, 6, dtype=torch.double, generator=_g(1), requires_grad=True)
    w = torch.randn(8, 4 // groups, 3, 3, dtype=torch.double, generator=_g(2))
    b = torch.randn(8, dtype=torch.double, generator=_g(3), requires_grad=True)
    assert gradcheck(lambda x, b: frozen_conv2d(x, w, b, stride=stride, padding=1, groups=groups), (x, b))


def test_channel_affine_relu_pool_gradcheck():
    x = torch.randn(2, 3, 5, 5, dtype=torch.double, generator=_g(4), requires_grad=True)
    scale = torch.rand(3, dtype=torch.double, generator=_g(5)) + 0.5
    shift = torch.randn(3, dtype=torch.double, generator=_g(6), requires_grad=True)
    assert gradcheck(lambda x, s: channel_affine(x, scale, s), (x, shift))
    assert gradcheck(lambda x: masked_relu(x, None), (x,))
    assert gradcheck(lambda x: masked_relu(x * 4, 6.0), (x,))
    assert gradcheck(lambda x: mean_pool(x, 2), (x,))  # 5x5 -> 2x2: the odd row/column gets no gradient
    assert gradcheck(lambda x: mean_pool(x, 0), (x,))


def _grads(out_fn, x, params):
    x = x.detach().clone().requires_grad_(True)
    out = out_fn(x)
    out.backward(torch.ones_like(out) * torch.linspace(-1, 1, out.numel()).view_as(out))
    return out.detach(), x.grad, [p.grad.clone() for p in params]


def test_folded_frozen_conv_matches_conv_bn():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, 2, 1, bias=False)
    bn = nn.BatchNorm2d(6)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    conv.weight.requires_grad_(False)
    bn.weight.requires_grad_(False)
    stock = nn.Sequential(conv, EvalBatchNorm2d.from_bn(bn))
    frozen = FrozenConv2d.from_conv(conv, bn, bias_trainable=True)
    x = torch.randn(3, 4, 8, 8)
    o1, gx1, (gb1,) = _grads(stock, x, [stock[1].bias])
    o2, gx2, (gb2,) = _grads(frozen, x, [frozen.bias])
    assert torch.allclose(o1, o2, atol=1e-5)
    assert torch.allclose(gx1, gx2, atol=1e-5)
    assert torch.allclose(gb1, gb2, atol=1e-4)  # d/d(shift) == d/d(beta)


def test_frozen_bn_and_activations_match_stock():
    torch.manual_seed(1)
    bn = nn.BatchNorm2d(5)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.requires_grad_(False)
    x = torch.randn(2, 5, 6, 6) * 4
    ref = EvalBatchNorm2d.from_bn(bn)
    ours = FrozenBatchNorm2d(bn)
    o1, g1, (b1,) = _grads(ref, x, [ref.bias])
    o2, g2, (b2,) = _grads(ours, x, [ours.shift])
    assert torch.allclose(o1, o2, atol=1e-5) and torch.allclose(g1, g2, atol=1e-5) and torch.allclose(b1, b2, atol=1e-4)
    for stock, mine in [(nn.ReLU6(), MaskedReLU(6.0)), (nn.ReLU(), MaskedReLU(None)),
                        (nn.AvgPool2d(2), MeanPool(2)), (nn.AdaptiveAvgPool2d(1), MeanPool(0))]:
        o1, g1, _ = _grads(stock, x, [])
        o2, g2, _ = _grads(mine, x, [])
        assert torch.allclose(o1, o2, atol=1e-6) and torch.allclose(g1, g2, atol=1e-6), type(stock).__name__


def test_int8_frozen_conv_close_and_consistent():
    torch.manual_seed(2)
    conv = nn.Conv2d(8, 16, 3, 1, 1, bias=True)
    q, s = quantize_per_channel(conv.weight)
    assert q.dtype == torch.int8 and (q.float() * s.view(-1, 1, 1, 1) - conv.weight).abs().max() <= s.max() / 2 + 1e-7
    f32, i8 = FrozenConv2d.from_conv(conv), FrozenConv2d.from_conv(conv, int8=True)
    assert i8.weight.dtype == torch.int8 and i8.weight.element_size() == 1
    x = torch.randn(2, 8, 6, 6)
    o1, g1, _ = _grads(f32, x, [])
    o2, g2, _ = _grads(i8, x, [])
    rel = (o1 - o2).norm() / o1.norm()
    assert rel < 0.02
    # the input gradient is the exact transpose of the dequantised forward
    w = q.float() * s.view(-1, 1, 1, 1)
    xx = x.clone().requires_grad_(True)
    out = F.conv2d(xx, w, i8.bias.detach(), 1, 1)
    out.backward(torch.ones_like(out) * torch.linspace(-1, 1, out.numel()).view_as(out))
    assert torch.allclose(xx.grad, g2, atol=1e-5)


def test_frozen_conv_saves_no_activation():
    conv = FrozenConv2d.from_conv(nn.Conv2d(4, 4, 3, padding=1), bias_trainable=True)
    saved = []
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        conv(x)
    assert saved and all(t.untyped_storage().data_ptr() == conv.weight.untyped_storage().data_ptr() for t in saved)
