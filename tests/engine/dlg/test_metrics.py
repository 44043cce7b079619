import numpy as np
import pytest
import torch

from engine.dlg.metrics import image_metrics, match_reconstructions, mse, psnr, ssim


def _imgs(n=3, c=3, s=32, seed=0):
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed))


def test_ssim_of_identical_images_is_one():
    x = _imgs()
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-6)
    assert float(ssim(x, 1 - x).max()) < 0.0  # anti-correlated


def test_ssim_matches_skimage():
    from skimage.metrics import structural_similarity

    a = _imgs(2, 3, 32, 1)
    b = (a + 0.1 * torch.randn(a.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    ours = ssim(a, b)
    for i in range(2):
        ref = structural_similarity(a[i].permute(1, 2, 0).numpy(), b[i].permute(1, 2, 0).numpy(), channel_axis=2,
                                    data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert abs(float(ours[i]) - ref) < 1e-4


def test_mse_psnr_known_values():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.full((1, 1, 4, 4), 0.1)
    assert float(mse(a, b)) == pytest.approx(0.01)
    assert float(psnr(a, b)) == pytest.approx(20.0)
    assert image_metrics(a, a)[0]["psnr"] == 100.0


def test_matching_undoes_a_permutation():
    x = _imgs(5)
    perm = [3, 0, 4, 1, 2]
    recon = torch.empty_like(x)
    for i, p in enumerate(perm):
        recon[p] = x[i] + 0.01
    found = match_reconstructions(recon, x)
    assert found == perm
    assert np.allclose(mse(recon[found], x).numpy(), 1e-4, atol=1e-6)


def test_leak_needs_psnr_and_ssim_together():
    from engine.dlg.metrics import LEAK_PSNR_DB, LEAK_SSIM, image_metrics, is_leaked, leak_criterion
    from engine.dlg.images import load_attack_images
    x = load_attack_images(source="photos", batch_size=1, index=3, size=32, num_classes=10).x
    g = torch.Generator().manual_seed(0)
    noisy = (x + 0.09 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    m = image_metrics(noisy, x)[0]
    assert m["mse"] < 1e-2  # the old rule (MSE < 1e-2) called this leaked
    assert m["ssim"] < LEAK_SSIM and not is_leaked(m)
    # 4x4 blocks: the smooth background is right (PSNR over 25 dB), the structure is gone
    blocks = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 4), size=32, mode="nearest")
    b = image_metrics(blocks, x)[0]
    assert b["psnr"] >= LEAK_PSNR_DB and b["ssim"] < LEAK_SSIM and not is_leaked(b)
    near = (x + 0.01 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert is_leaked(image_metrics(near, x)[0])
    assert not is_leaked({"psnr": LEAK_PSNR_DB + 5, "ssim": LEAK_SSIM - 0.1})
    assert not is_leaked({"psnr": LEAK_PSNR_DB - 0.1, "ssim": 0.99})
    text = leak_criterion()
    assert f"{LEAK_PSNR_DB:g} dB" in text and f"SSIM >= {LEAK_SSIM:g}" in text
