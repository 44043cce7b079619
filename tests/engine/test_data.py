"""Offline datasets by name: shapes, ranges, splits and loaders."""
from __future__ import annotations

import pytest
import torch

from engine.data import DATASETS, OFFLINE_DATASETS, DataError, load_dataset, load_photos, make_loaders


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_shapes_ranges_and_train_test_sizes(digits):
    test = load_dataset("digits", train=False)
    assert digits.x.shape[1:] == (1, 8, 8) and digits.num_classes == 10
    assert len(digits.y) + len(test.y) == 1797
    assert digits.y.dtype == torch.int64 and set(digits.y.tolist()) == set(range(10))
    assert 0.0 <= digits.x.min() and digits.x.max() <= 1.0


def test_resize_and_channels():
    d = load_dataset("digits", train=False, image_size=16, channels=3, limit=20)
    assert d.x.shape == (20, 3, 16, 16) and d.shape == (3, 16, 16)
    assert torch.equal(d.x[:, 0], d.x[:, 1])  # grey made 3-channel
    assert 0.0 <= d.x.min() and d.x.max() <= 1.0


def test_mnist_5k_is_real_mnist_split_4000_1000():
    tr, te = load_dataset("mnist-5k"), load_dataset("mnist-5k", train=False)
    assert tr.x.shape == (4000, 1, 28, 28) and te.x.shape == (1000, 1, 28, 28)
    assert torch.bincount(tr.y).tolist() == [400] * 10
    assert 0.05 < tr.x.mean() < 0.25  # dark background, bright strokes


def test_split_is_stratified_disjoint_and_seeded(digits):
    tr, va = digits.split(0.2, seed=0)
    assert len(tr.y) + len(va.y) == len(digits.y)
    counts, vcounts = torch.bincount(digits.y), torch.bincount(va.y, minlength=10)
    assert torch.equal(vcounts, torch.round(counts * 0.2).long())
    tr2, va2 = digits.split(0.2, seed=0)
    _, va3 = digits.split(0.2, seed=1)
    assert torch.equal(va.x, va2.x) and not torch.equal(va.x, va3.x)
    # disjoint: an image that occurs once in the set is in exactly one part
    flat = digits.x.flatten(1)
    once = [r for r in flat[:200] if int((flat == r).all(1).sum()) == 1]
    for r in once:
        assert int((tr.x.flatten(1) == r).all(1).sum()) + int((va.x.flatten(1) == r).all(1).sum()) == 1


def test_limit_and_subset_classes(digits):
    assert len(digits.limit(100, seed=3).y) == 100
    assert digits.limit(10**6) is digits
    sub = digits.subset_classes([3, 7])
    assert sub.classes == ["3", "7"] and set(sub.y.tolist()) == {0, 1}
    assert len(sub.y) == int(((digits.y == 3) | (digits.y == 7)).sum())


def test_loaders_normalise_with_train_statistics_and_shuffle_by_seed(digits):
    tr, va = digits.split(0.2, seed=0)
    tl, vl = make_loaders(tr, va, batch_size=64, seed=5)
    xb, yb = next(iter(tl))
    assert xb.shape == (64, 1, 8, 8) and yb.shape == (64,)
    allx = torch.cat([x for x, _ in make_loaders(tr, None, batch_size=64, seed=5)[0]])
    assert abs(allx.mean()) < 0.05 and abs(allx.std() - 1) < 0.05
    assert len(tl) == len(tr.y) // 64  # drop_last
    assert torch.equal(next(iter(make_loaders(tr, va, batch_size=64, seed=5)[0]))[1], yb)
    assert sum(len(y) for _, y in vl) == len(va.y)


def test_photos_are_real_colour_images():
    x, names = load_photos(16, names=("astronaut", "camera"))
    assert x.shape == (2, 3, 16, 16) and names == ["astronaut", "camera"]
    assert x[0].std() > 0.1  # not a blank


def test_unknown_and_missing_datasets_are_clear_errors(tmp_path):
    assert set(OFFLINE_DATASETS) <= set(DATASETS)
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("imagenet-1m")
    with pytest.raises(DataError, match="mnist-5k"):
        load_dataset("cifar10", root=tmp_path)
