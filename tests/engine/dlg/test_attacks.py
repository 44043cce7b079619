import torch

from engine.dlg.attacks import (AttackSettings, cosine_distance, infer_labels, run_attack, shared_gradients,
                                total_variation)
from engine.dlg.metrics import match_reconstructions, mse
from engine.dlg.victims import LeNet, SmallResNet, build_victim, last_linear_index


def _image(seed=0, c=1, s=16):
    # a smooth, structured tiny image (a blurred random field) in [0, 1]
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, c, s // 4, s // 4, generator=g)
    return torch.nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)


def test_lenet_is_the_papers_network():
    m = build_victim("lenet", in_channels=3, num_classes=100, image_size=32, generator=torch.Generator().manual_seed(0))
    convs = [l for l in m.modules() if isinstance(l, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5)] * 3
    assert [c.stride for c in convs] == [(2, 2), (2, 2), (1, 1)]
    assert [c.out_channels for c in convs] == [12, 12, 12]
    assert sum(isinstance(l, torch.nn.Sigmoid) for l in m.modules()) == 3
    assert m.fc.in_features == 768 and m.fc.out_features == 100
    for p in m.parameters():
        p = p.detach()
        assert float(p.abs().max()) <= 0.5 and float(p.std()) > 0.2  # U(-0.5, 0.5) everywhere
    m2 = build_victim("lenet", in_channels=3, num_classes=100, image_size=32, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), m2.parameters()))  # seeded


def test_dlg_recovers_a_tiny_image():
    x = _image()
    y = torch.tensor([3])
    model = LeNet(in_channels=1, num_classes=10, image_size=16)
    model.reset_parameters_uniform(torch.Generator().manual_seed(1))
    target = shared_gradients(model, x, y)
    res = run_attack("dlg", model, target, shape=tuple(x.shape), num_classes=10,
                     generator=torch.Generator().manual_seed(2),
                     settings=AttackSettings(steps=120, init="normal"),
                     callback=lambda it, loss, cur: float(mse(cur, x)) < 1e-4)
    assert float(mse(res.images, x)) < 1e-3
    assert res.losses[-1] < 1e-2 * res.losses[0]
    assert int(res.labels[0]) == 3  # the dummy soft label converged to the true one
    assert not res.diverged


def test_idlg_reads_the_label_off_the_gradient():
    hits = 0
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        model = build_victim("lenet", in_channels=1, num_classes=10, image_size=16, generator=g)
        y = torch.randint(0, 10, (1,), generator=g)
        target = shared_gradients(model, torch.rand(1, 1, 16, 16, generator=g), y)
        hits += int(infer_labels(model, target, 1)[0] == y[0])
    assert hits == 20


def test_idlg_labels_of_a_batch_with_distinct_labels():
    g = torch.Generator().manual_seed(5)
    model = build_victim("resnet", in_channels=3, num_classes=10, image_size=16, generator=g)
    y = torch.tensor([7, 1, 4])
    target = shared_gradients(model, torch.rand(3, 3, 16, 16, generator=g), y)
    assert infer_labels(model, target, 3).tolist() == [1, 4, 7]
    assert target[last_linear_index(model)].shape == (10, 64)


def test_inverting_gradients_moves_towards_the_image():
    x = _image(3, c=3, s=16)
    model = SmallResNet(in_channels=3, num_classes=10, width=8)
    model.reset_parameters_seeded(torch.Generator().manual_seed(0))
    model.eval()
    target = shared_gradients(model, x, torch.tensor([2]))
    res = run_attack("ig", model, target, shape=tuple(x.shape), num_classes=10,
                     generator=torch.Generator().manual_seed(1), settings=AttackSettings(steps=60, tv_weight=0.05))
    assert res.iterations == 60 and int(res.labels[0]) == 2
    assert float(res.images.min()) >= 0 and float(res.images.max()) <= 1  # boxed
    assert min(res.losses[-10:]) < 0.5 * res.losses[0]
    start = torch.randn(x.shape, generator=torch.Generator().manual_seed(1)).clamp(0, 1)
    assert float(mse(res.images, x)) < float(mse(start, x))


def test_distances():
    a = [torch.ones(3), torch.zeros(2)]
    assert float(cosine_distance(a, [2 * t for t in a])) == 0.0
    assert abs(float(cosine_distance(a, [-t for t in a])) - 2.0) < 1e-6
    flat = torch.full((1, 1, 4, 4), 0.5)
    assert float(total_variation(flat)) == 0.0
    assert float(total_variation(torch.eye(4).view(1, 1, 4, 4))) > 0


def test_batch_reconstructions_are_matched_to_originals():
    x = torch.cat([_image(s) for s in range(3)])
    perm = match_reconstructions(x.flip(0), x)
    assert perm == [2, 1, 0]


def test_batch_label_counts_from_the_bias_gradient():
    # random sigmoid LeNets often favour one class for every input: the row-sum
    # rule then misses that class; the analytic count rule restores every label,
    # repeated ones included
    new = old = rep = 0
    for seed in range(12):
        g = torch.Generator().manual_seed(seed)
        m = build_victim("lenet", in_channels=3, num_classes=10, image_size=16, generator=g)
        x = torch.rand(4, 3, 16, 16, generator=g)
        y = torch.randperm(10, generator=g)[:4]
        t = shared_gradients(m, x, y)
        new += infer_labels(m, t, 4, shape=tuple(x.shape), generator=torch.Generator().manual_seed(9)).tolist() \
            == sorted(y.tolist())
        old += infer_labels(m, t, 4).tolist() == sorted(y.tolist())
        y2 = torch.randint(0, 10, (4,), generator=g)
        t2 = shared_gradients(m, x, y2)
        rep += infer_labels(m, t2, 4, shape=tuple(x.shape), generator=torch.Generator().manual_seed(9)).tolist() \
            == sorted(y2.tolist())
    assert new == 12 and rep == 12
    assert old < 12  # the case the count rule is for


def test_idlg_rebuilds_a_batch_of_four_tiny_images():
    g = torch.Generator().manual_seed(3)
    x = torch.cat([_image(seed=s, c=1, s=16) for s in range(4)])
    y = torch.tensor([2, 5, 5, 7])
    model = build_victim("lenet", in_channels=1, num_classes=10, image_size=16, generator=g)
    target = shared_gradients(model, x, y)
    res = run_attack("idlg", model, target, shape=tuple(x.shape), num_classes=10,
                     generator=torch.Generator().manual_seed(4), settings=AttackSettings(steps=150),
                     callback=lambda it, loss, cur: float(mse(cur[match_reconstructions(cur, x)], x).max()) < 1e-4)
    perm = match_reconstructions(res.images, x)
    assert float(mse(res.images[perm], x).max()) < 1e-3
    assert sorted(res.labels.tolist()) == [2, 5, 5, 7]


def _lenet16(seed=1, c=1):
    model = LeNet(in_channels=c, num_classes=10, image_size=16)
    model.reset_parameters_uniform(torch.Generator().manual_seed(seed))
    return model


def test_stalled_rule():
    from engine.dlg.attacks import _stalled
    assert not _stalled([5.0, 4.0, 3.0, 2.0], 2, 1e-4)
    assert _stalled([5.0, 1.0, 1.0, 1.0], 2, 1e-4)  # no gain over the last two steps
    assert not _stalled([5.0, 1.0], 2, 1e-4)  # too few steps to tell
    assert not _stalled([5.0, 1.0, 1.0, 1.0], 0, 1e-4)  # detection off


def test_a_stalled_lbfgs_is_flagged_and_its_idle_steps_are_not_iterations():
    # an unmatchable target (the gradient of another network): L-BFGS stops improving
    x, y = _image(), torch.tensor([3])
    model = _lenet16()
    target = shared_gradients(_lenet16(seed=7), x, y)
    settings = AttackSettings(steps=200, max_iter=5, stall_steps=5, fallback="none")
    res = run_attack("idlg", model, target, shape=tuple(x.shape), num_classes=10,
                     generator=torch.Generator().manual_seed(2), settings=settings)
    assert res.stalled and not res.diverged
    assert len(res.losses) < 200  # stopped once stalled rather than idling to the step budget
    assert res.iterations <= len(res.losses) - 5  # the idle steps are not counted
    assert res.gradient_loss == min(res.losses) > 0.99 * min(res.losses[:res.iterations])
    # with the Adam fallback it keeps going from the best images; anything it finds is an improvement
    fb = run_attack("idlg", model, target, shape=tuple(x.shape), num_classes=10,
                    generator=torch.Generator().manual_seed(2),
                    settings=AttackSettings(steps=200, max_iter=5, stall_steps=5, fallback="adam", fallback_lr=1e-3))
    assert fb.stalled and fb.evaluations > res.evaluations
    assert fb.gradient_loss <= res.gradient_loss


def test_restarts_keep_the_best_gradient_match():
    x = torch.cat([_image(0), _image(1)])
    y = torch.tensor([3, 5])
    model = _lenet16()
    target = shared_gradients(model, x, y)
    kw = dict(shape=tuple(x.shape), num_classes=10)
    one = run_attack("idlg", model, target, generator=torch.Generator().manual_seed(2),
                     settings=AttackSettings(steps=8, max_iter=3), **kw)
    three = run_attack("idlg", model, target, generator=torch.Generator().manual_seed(2),
                       settings=AttackSettings(steps=8, max_iter=3, restarts=3), **kw)
    assert len(three.restart_losses) == 3 and three.restart_losses[0] == one.gradient_loss
    assert three.gradient_loss == min(three.restart_losses) <= one.gradient_loss
    assert three.restart == three.restart_losses.index(three.gradient_loss)
    assert three.evaluations > one.evaluations  # every restart's cost is counted


def test_total_variation_enters_the_lbfgs_objective():
    x, y = _image(), torch.tensor([3])
    model = _lenet16()
    target = shared_gradients(model, x, y)
    runs = [run_attack("idlg", model, target, shape=tuple(x.shape), num_classes=10,
                       generator=torch.Generator().manual_seed(2), settings=AttackSettings(steps=3, max_iter=3,
                                                                                           lbfgs_tv=tv))
            for tv in (0.0, 0.5)]
    assert float(total_variation(runs[1].images)) < float(total_variation(runs[0].images))


def test_inverting_gradients_honours_dummy_init():
    x, y = _image(), torch.tensor([3])
    model = _lenet16()
    target = shared_gradients(model, x, y)
    first = {}
    for init in ("uniform", "normal"):
        def cb(it, loss, cur, init=init):
            first.setdefault(init, cur.clone())
        run_attack("ig", model, target, shape=tuple(x.shape), num_classes=10,
                   generator=torch.Generator().manual_seed(2),
                   settings=AttackSettings(steps=1, adam_lr=1e-6, init=init), callback=cb)
    # one tiny step from the start, boxed to [0, 1]: N(0, 1) puts about 2/3 of the pixels on the box's faces
    on_box = {k: float(((v == 0) | (v == 1)).float().mean()) for k, v in first.items()}
    assert on_box["normal"] > 0.4 and on_box["uniform"] < 0.05
