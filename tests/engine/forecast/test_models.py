"""Groups, the pose models, the renderer, the pixel baseline and the metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.forecast.metrics import image_metrics_per_horizon, pose_error_per_horizon, psnr, ssim
from engine.forecast.pose_model import (VARIANTS, HierarchicalPoseModel, constant_velocity, form_groups,
                                        zero_velocity)
from engine.forecast.render_model import AdaptiveRenderer, PixelConvGRU, composite, limb_maps


def _groups(pos, vel, mask=None):
    pos, vel = torch.tensor([pos], dtype=torch.float32), torch.tensor([vel], dtype=torch.float32)
    mask = torch.ones(1, pos.shape[1], dtype=torch.bool) if mask is None else torch.tensor([mask])
    return form_groups(pos, vel, torch.full((1, pos.shape[1]), 10.0), mask, link_distance=1.5, link_speed=0.04)[0]


def test_groups_form_by_proximity_and_motion():
    # 0 and 1 stand together; 2 walks away from them (close, but moving off); 3 is far away
    g = _groups([[0, 0], [8, 0], [4, 6], [80, 0]], [[0, 0], [0, 0], [0, 1.0], [0, 0]])
    assert g[0, 1] and g[1, 0] and not g[0, 2] and not g[2, 1] and not g[0, 3]
    assert all(g[i, i] for i in range(4))
    # two walking side by side at the same speed are a group, and two walking up to each other;
    # two who have passed each other and walk apart are not
    assert _groups([[0, 0], [5, 0]], [[1, 0], [1, 0]])[0, 1]
    assert _groups([[0, 0], [5, 0]], [[1, 0], [-1, 0]])[0, 1]
    assert not _groups([[0, 0], [5, 0]], [[-1, 0], [1, 0]])[0, 1]


def test_groups_are_connected_components_and_skip_absent_people():
    # a chain 0-1-2 (each 12 apart, linked below 15) makes one group though 0 and 2 are 24 apart
    g = _groups([[0, 0], [12, 0], [24, 0]], [[0, 0]] * 3)
    assert bool(g.all())
    g = _groups([[0, 0], [12, 0], [24, 0]], [[0, 0]] * 3, mask=[True, False, True])
    assert not g[0, 2] and not g[1].any()


def test_an_untrained_model_starts_at_constant_velocity_and_every_variant_runs():
    obs = torch.rand(2, 3, 5, 17, 2) * 64
    for variant in VARIANTS:
        m = HierarchicalPoseModel(future=4, image_size=64, hidden=16, variant=variant)
        out = m(obs, torch.tensor([[True, True, False], [True, True, True]]))
        assert out.shape == (2, 3, 4, 17, 2)
        torch.testing.assert_close(out, constant_velocity(obs, 4), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="variant"):
        HierarchicalPoseModel(future=4, image_size=64, variant="two-groups")


def test_the_group_level_changes_the_forecast_once_trained_weights_differ():
    torch.manual_seed(0)
    obs = torch.rand(1, 3, 5, 17, 2) * 64
    m = HierarchicalPoseModel(future=3, image_size=64, hidden=16)
    torch.nn.init.normal_(m.head[-1].weight, std=0.1)
    one = HierarchicalPoseModel(future=3, image_size=64, hidden=16, variant="one-group")
    one.load_state_dict(m.state_dict())
    obs[0, 2] += 500  # person 2 far away: its own group in the hierarchical model, not in one-group
    assert not torch.allclose(m(obs), one(obs))
    # given groups replace the formed ones: everyone in group 0 is the one-group model, everyone apart is not
    torch.testing.assert_close(m(obs, None, torch.zeros(1, 3, 5, dtype=torch.long)), one(obs))
    assert not torch.allclose(m(obs, None, torch.arange(3).view(1, 3, 1).expand(1, 3, 5)), one(obs))


def test_the_group_level_reads_the_others_relative_geometry_and_nothing_when_alone():
    torch.manual_seed(0)
    D = 16
    m = HierarchicalPoseModel(future=3, image_size=64, hidden=D)
    assert m.pairwise and m.pair_geometry is not None
    pos = torch.tensor([[[10.0, 10.0], [12.0, 10.0], [60.0, 60.0]]])  # 0 and 1 together, 2 alone
    vel, height, mask = torch.zeros(1, 3, 2), torch.full((1, 3), 10.0), torch.ones(1, 3, dtype=torch.bool)
    state = (torch.rand(1, 3, D), torch.zeros(1, 3, D), torch.zeros(1, D))
    x = torch.rand(1, 3, 72)

    def group_context(pos):
        return m._step(x, state, mask, pos, vel, height)[1][..., :D]  # the group level's state

    near = group_context(pos)
    moved = pos.clone()
    moved[0, 1, 0] += 3.0  # person 1 a little further right, still in the group
    far = group_context(moved)
    assert not torch.allclose(near[0, 0], far[0, 0])  # person 0's group level sees where person 1 is
    torch.testing.assert_close(near[0, 2], far[0, 2])  # alone: the group level pools nothing
    torch.testing.assert_close(near[0, 2], m.group(torch.zeros(1, D), torch.zeros(1, D))[0])
    states_only = HierarchicalPoseModel(future=3, image_size=64, hidden=D, pairwise=False)
    assert states_only.pair_geometry is None
    states_only.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("pair_")})
    s_near = states_only._step(x, state, mask, pos, vel, height)[1][..., :D]
    s_far = states_only._step(x, state, mask, moved, vel, height)[1][..., :D]
    torch.testing.assert_close(s_near, s_far)  # pooling states only: the same position change goes unseen


def test_pose_baselines():
    obs = torch.zeros(1, 1, 3, 17, 2)
    obs[..., 0] = torch.arange(3.0).view(1, 1, 3, 1)  # moving 1 px a frame in x
    cv, zv = constant_velocity(obs, 2), zero_velocity(obs, 2)
    assert cv[0, 0, :, 0, 0].tolist() == [3.0, 4.0] and zv[0, 0, :, 0, 0].tolist() == [2.0, 2.0]


def test_pose_error_is_mean_per_joint_distance_over_people_present():
    truth = torch.zeros(1, 2, 2, 17, 2)
    pred = truth.clone()
    pred[0, 0, 1, :, 0], pred[0, 0, 1, :, 1] = 3.0, 4.0  # 5 px at horizon 2 for person 0
    pred[0, 1] = 100.0  # person 1 absent
    err = pose_error_per_horizon(pred, truth, torch.tensor([[True, False]]))
    np.testing.assert_allclose(err, [0.0, 5.0])


def test_psnr_and_ssim_are_scikit_images_on_known_images():
    from skimage import data, img_as_float
    from skimage.metrics import structural_similarity

    img = img_as_float(data.astronaut()[::8, ::8])
    off = np.clip(img + 0.1, 0, 1)
    mse = np.mean((off - img) ** 2)
    assert psnr(img, off) == pytest.approx(10 * np.log10(1 / mse), rel=1e-9)
    assert psnr(img, img) == 100.0
    assert ssim(img, img) == pytest.approx(1.0)
    ref = structural_similarity(img, off, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert ssim(img, off) == pytest.approx(ref) and ssim(img, off) < 0.99
    ps, ss = image_metrics_per_horizon(torch.from_numpy(off).permute(2, 0, 1)[None, None].float(),
                                       torch.from_numpy(img).permute(2, 0, 1)[None, None].float())
    assert ps.shape == (1,) and ps[0] == pytest.approx(psnr(img, off), abs=0.01)


def test_limb_maps_peak_on_the_limbs():
    pose = torch.full((17, 2), 8.0)
    pose[15] = torch.tensor([8.0, 30.0])  # left ankle below the left knee (limb 0: 15-13)
    maps = limb_maps(pose, 32)
    assert maps.shape == (19, 32, 32)
    assert maps[0, 20, 8] > 0.99 and maps[0, 20, 20] < 1e-3


def test_renderer_and_pixel_baseline_shapes_and_compositing_order():
    r = AdaptiveRenderer(width=4)
    maps = limb_maps(torch.rand(2, 3, 17, 2) * 32, 32)
    with torch.no_grad():
        out = r(torch.rand(2, 3, 32, 32), maps, maps, torch.rand(2, 3, 32, 32), torch.ones(2, 3, dtype=torch.bool),
                torch.rand(2, 3))
    assert out.shape == (2, 3, 32, 32) and 0 <= float(out.min()) and float(out.max()) <= 1
    # the nearer person (smaller depth) is drawn last, over the farther one
    bg = torch.zeros(1, 3, 4, 4)
    rgb = torch.stack([torch.full((3, 4, 4), 0.2), torch.full((3, 4, 4), 0.9)])[None]
    alpha = torch.ones(1, 2, 1, 4, 4)
    near_second = composite(bg, rgb, alpha, torch.tensor([[True, True]]), torch.tensor([[5.0, 1.0]]))
    assert float(near_second.mean()) == pytest.approx(0.9)
    absent = composite(bg, rgb, alpha, torch.tensor([[True, False]]), torch.tensor([[5.0, 1.0]]))
    assert float(absent.mean()) == pytest.approx(0.2)
    px = PixelConvGRU(future=3, width=4, hidden=8)
    frames = torch.rand(2, 4, 3, 32, 32)
    with torch.no_grad():
        pred = px(frames)
    assert pred.shape == (2, 3, 3, 32, 32)
    torch.testing.assert_close(pred[:, 0], frames[:, -1])  # untrained: the last frame held


def test_the_renderer_starts_from_each_limbs_observed_colour_at_the_target_pose():
    """Untrained, a person is drawn where its target pose is, in the colours observed under its limbs."""
    pose = torch.full((17, 2), 16.0)
    pose[15], pose[13] = torch.tensor([16.0, 26.0]), torch.tensor([16.0, 20.0])  # the left shin
    frame = torch.zeros(1, 3, 32, 32)
    frame[:, 0] = 1.0  # everything red
    src = limb_maps(pose[None], 32)
    tgt = limb_maps((pose + torch.tensor([8.0, 0.0]))[None], 32)  # moved 8 px right
    field = AdaptiveRenderer.limb_colours(frame, src, tgt)
    assert field[0, 0, 23, 24] == pytest.approx(1.0) and float(field[0, 1:].abs().max()) < 1e-6
    r = AdaptiveRenderer(width=4)
    with torch.no_grad():
        rgb, alpha = r.person_layers(frame, src, tgt, torch.zeros(1, 3, 32, 32))
    assert alpha[0, 0, 23, 24] > 0.8 and alpha[0, 0, 23, 8] < 1e-3  # at the target, not the old place
    assert rgb[0, 0, 23, 24] == pytest.approx(1.0) and rgb[0, 1, 23, 24] == pytest.approx(0.0)
