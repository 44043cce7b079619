import math

import pytest
import torch

from engine.dlg.defences import (apply_defence, fp16_compress, gaussian_noise, int_quantize, laplacian_noise,
                                 prune_gradients)


def _grads():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(12, 3, 5, 5, generator=g), torch.randn(10, generator=g) * 1e-3, torch.zeros(7)]


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_prune_zeroes_the_smallest_fraction(ratio):
    grads = _grads()
    out = prune_gradients(grads, ratio)
    for g, o in zip(grads[:2], out[:2]):
        k = int(round(ratio * g.numel()))
        assert int((o == 0).sum()) == k
        kept = o != 0
        if 0 < k < g.numel():
            # every zeroed entry is no larger in magnitude than every kept one
            assert g[~kept].abs().max() <= g[kept].abs().min()
        assert torch.equal(o[kept], g[kept])  # survivors untouched
    assert torch.equal(grads[0], _grads()[0])  # inputs not modified


def test_int8_error_is_bounded_by_half_a_step():
    grads = _grads()
    for bits in (8, 4, 2):
        out = int_quantize(grads, bits)
        for g, o in zip(grads, out):
            step = g.abs().max() / (2 ** (bits - 1) - 1)
            assert (o - g).abs().max() <= step / 2 + 1e-7
            if g.abs().max() > 0:
                levels = torch.unique(torch.round(o / step))
                assert len(levels) <= 2 ** bits - 1
    assert torch.equal(int_quantize([torch.zeros(3)])[0], torch.zeros(3))


def test_fp16_rounds_to_half_precision():
    g = [torch.tensor([1.0 + 2 ** -12, 1e-9, 70000.0, 0.1])]
    out = fp16_compress(g)[0]
    assert out.dtype == torch.float32
    assert out[0] == 1.0 and out[1] == 0.0 and math.isinf(out[2])
    assert abs(out[3] - 0.1) < 1e-4 and out[3] != torch.tensor(0.1)


@pytest.mark.parametrize("fn", [gaussian_noise, laplacian_noise])
def test_noise_has_the_requested_variance_and_is_seeded(fn):
    g = [torch.zeros(200_000)]
    a = fn(g, 1e-2, generator=torch.Generator().manual_seed(3))[0]
    b = fn(g, 1e-2, generator=torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)
    assert abs(float(a.var()) - 1e-2) < 5e-4
    assert abs(float(a.mean())) < 1e-3
    if fn is laplacian_noise:  # heavier tails: excess kurtosis 3
        kurt = float((a ** 4).mean() / a.var() ** 2) - 3
        assert 2.4 < kurt < 3.6


def test_apply_defence_dispatch():
    g = _grads()
    assert torch.equal(apply_defence("none", g, 0)[0], g[0])
    assert torch.equal(apply_defence("quantize", g, 16)[0], fp16_compress(g)[0])
    assert torch.equal(apply_defence("quantize", g, 8)[1], int_quantize(g, 8)[1])
    with pytest.raises(ValueError):
        apply_defence("gaussian", g, 0.1)  # noise without a generator
    with pytest.raises(ValueError):
        apply_defence("nope", g, 0.1)


def test_gradient_mean_square_is_over_every_entry():
    from engine.dlg.defences import gradient_mean_square
    grads = [torch.full((2, 2), 2.0), torch.zeros(4)]
    assert gradient_mean_square(grads) == pytest.approx(2.0)  # (4 * 4 + 4 * 0) / 8
    assert gradient_mean_square([]) == 0.0
