"""Datasets by name: the catalogue, shapes, ranges, splits, loaders, Fashion-MNIST's
IDX files and the fallback when it is not installed."""
from __future__ import annotations

import gzip
import struct
import sys

import numpy as np
import pytest
import torch

import engine.data.builtin as builtin
from engine.data import (DATASETS, MODALITIES, OFFLINE_DATASETS, OFFLINE_DEFAULT, DataError, DatasetInfo,
                         choose_dataset, dataset_info, dataset_names, is_installed, load_dataset, load_photos,
                         load_train_test, make_loaders, read_idx, register_dataset)

FASHION = builtin.SYSTEM_DATASETS_DIR / "fashion-mnist"


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


def test_every_dataset_has_a_record_with_modality_source_and_licence():
    assert {"mnist-5k", "digits", "photos", "fashion-mnist", "mnist", "cifar10", "cifar100", "svhn"} <= set(DATASETS)
    for name in DATASETS:
        info = dataset_info(name)
        assert info.name == name and info.modality in MODALITIES and info.source and info.licence and info.title
        assert info.describe()["modality"] == info.modality
    assert dataset_info("photos").origin == "composed"  # our set of photographs, our labels
    assert all(dataset_info(n).origin == "real" for n in ("mnist-5k", "digits", "fashion-mnist"))
    fm = dataset_info("fashion-mnist")
    assert (fm.channels, fm.size, fm.classes, fm.fallback) == (1, 28, 10, OFFLINE_DEFAULT)
    assert set(OFFLINE_DATASETS) == {"mnist-5k", "digits", "photos"}
    assert set(dataset_names(modality="images")) == set(DATASETS) and dataset_names(modality="video") == ("mocap-groups",)
    assert dataset_info("mocap-groups").origin == "composed" and "composed from real motion capture" in \
        dataset_info("mocap-groups").source


def test_registration_refuses_duplicates_and_bad_records():
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(DatasetInfo("mnist-5k", "again", "images", "here", "none"))
    with pytest.raises(ValueError, match="modality"):
        DatasetInfo("speech-1", "x", "audio", "here", "none")
    with pytest.raises(ValueError, match="origin"):
        DatasetInfo("speech-1", "x", "video", "here", "none", origin="made-up")
    with pytest.raises(ValueError, match="fallback"):
        register_dataset(DatasetInfo("orphan-set", "x", "images", "here", "none", fallback="nothing-such"))
    assert "orphan-set" not in DATASETS


def test_reading_the_registry_does_not_load_the_techniques():
    code = "import sys, engine.data as d; d.dataset_names(); d.dataset_info('mnist-5k'); " \
           "assert 'engine.nas' not in sys.modules and 'engine.tinytl' not in sys.modules"
    import subprocess
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(builtin.Path(__file__).resolve().parents[2]))


def _write_idx(path, arr: np.ndarray, *, gz: bool) -> None:
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    raw = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(
        arr.dtype.newbyteorder(">")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    (gzip.open if gz else open)(path, "wb").write(raw)


def _fake_fashion(folder, *, gz: bool, n_train: int = 20, n_test: int = 10) -> None:
    g = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    for stem, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{stem}-images-idx3-ubyte{sfx}", g.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz=gz)
        _write_idx(folder / f"{stem}-labels-idx1-ubyte{sfx}", (np.arange(n) % 10).astype(np.uint8), gz=gz)


def test_read_idx_plain_and_gzipped_and_refuses_bad_files(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    _write_idx(tmp_path / "a.idx", a, gz=False)
    _write_idx(tmp_path / "a.idx.gz", a, gz=True)
    for name in ("a.idx", "a.idx.gz"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.int32 and np.array_equal(got, a)
    (tmp_path / "bad.idx").write_bytes(b"\x80\x03pickle")
    with pytest.raises(DataError, match="not an IDX"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes((tmp_path / "a.idx").read_bytes()[:-4])
    with pytest.raises(DataError, match="data bytes"):
        read_idx(tmp_path / "short.idx")


@pytest.fixture()
def no_system_fashion(tmp_path, monkeypatch):
    """A machine without Debian's package and with an empty data folder."""
    monkeypatch.setattr(builtin, "SYSTEM_DATASETS_DIR", tmp_path / "usr-share-datasets")
    monkeypatch.setenv("FRONTIER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_from_frontier_data_dir_in_torchvisions_layout(no_system_fashion, gz):
    _fake_fashion(no_system_fashion / "FashionMNIST" / "raw", gz=gz)
    assert is_installed("fashion-mnist")
    tr, te = load_dataset("fashion-mnist"), load_dataset("fashion-mnist", train=False, image_size=16)
    assert tr.x.shape == (20, 1, 28, 28) and te.x.shape == (10, 1, 16, 16)
    assert tr.classes[0] == "T-shirt/top" and tr.num_classes == 10 and tr.y.tolist() == [i % 10 for i in range(20)]
    assert 0.0 <= tr.x.min() and tr.x.max() <= 1.0
    assert choose_dataset("fashion-mnist").name == "fashion-mnist"


def test_mnist_reads_the_same_idx_files_in_torchvisions_layout(no_system_fashion):
    assert not is_installed("mnist")
    _fake_fashion(no_system_fashion / "MNIST" / "raw", gz=False, n_train=12, n_test=6)
    d = load_dataset("mnist", train=False)
    assert d.x.shape == (6, 1, 28, 28) and d.classes == [str(i) for i in range(10)]
    assert choose_dataset("mnist").name == "mnist"  # no fallback: it has none


def test_missing_fashion_mnist_falls_back_to_mnist_5k_and_says_so(no_system_fashion):
    assert not is_installed("fashion-mnist")
    choice = choose_dataset("fashion-mnist")
    assert choice.fell_back and choice.name == "mnist-5k" and choice.requested == "fashion-mnist"
    assert "not installed" in choice.note and "mnist-5k" in choice.note and "dataset-fashion-mnist" in choice.note
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist")
    assert choose_dataset("mnist-5k") == choose_dataset("mnist-5k") and not choose_dataset("mnist-5k").note


def test_supernet_run_on_a_missing_fashion_mnist_says_it_fell_back(no_system_fashion, tmp_path, monkeypatch):
    from engine import MemoryReporter, techniques
    from engine.hardware import get_profile

    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path / "cache"))
    t = techniques.get("supernet")
    r = MemoryReporter()
    s = t.run(t.parse({**t.smoke, "dataset": "fashion-mnist"}), get_profile("raspberry-pi-4"), r)
    assert s.metrics["dataset"] == "mnist-5k" and "using mnist-5k instead" in s.message
    assert any("not installed" in msg for _, msg in r.progresses)
    from engine.supernet import load_checkpoint

    _, meta = load_checkpoint(s.metrics["checkpoint"])  # later searches on it say so too
    assert meta["dataset"] == "mnist-5k" and "not installed" in meta["dataset_note"]


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed (make test installs it as root)")
def test_fashion_mnist_loads_from_the_debian_package():
    assert is_installed("fashion-mnist") and not choose_dataset("fashion-mnist").fell_back
    tr, te = load_dataset("fashion-mnist"), load_dataset("fashion-mnist", train=False)
    assert tr.x.shape == (60000, 1, 28, 28) and te.x.shape == (10000, 1, 28, 28)
    assert torch.bincount(tr.y).tolist() == [6000] * 10 and torch.bincount(te.y).tolist() == [1000] * 10
    assert tr.classes[9] == "Ankle boot" and tr.y[:4].tolist() == [9, 0, 0, 3]  # the set's first labels
    assert 0.0 <= tr.x.min() and tr.x.max() <= 1.0 and 0.2 < tr.x.mean() < 0.4


def test_load_train_test_keeps_classes_and_limits_the_training_split(digits):
    tr, te = load_train_test("digits", classes="3,7", train_limit=50, seed=2, image_size=12, channels=3)
    full_tr = load_dataset("digits", image_size=12, channels=3).subset_classes([3, 7])
    full_te = load_dataset("digits", train=False, image_size=12, channels=3).subset_classes([3, 7])
    assert torch.equal(tr.x, full_tr.limit(50, seed=2).x) and torch.equal(te.y, full_te.y)
    assert tr.classes == ["3", "7"] and tr.x.shape[1:] == (3, 12, 12)
    all_tr, _ = load_train_test("digits")
    assert torch.equal(all_tr.y, digits.y)
    with pytest.raises(ValueError, match="does not exist"):
        load_train_test("digits", classes="8-12")


def test_nas_data_limits_the_validation_split_and_normalises_with_train_statistics():
    from engine.supernet import load_nas_data

    d = load_nas_data("digits", resolution=8, train_limit=300, val_limit=100, seed=1)
    assert {k: len(v) for k, v in d.y.items()} == {"train": 300, "val": 100, "test": 360}
    assert abs(float(d.x["train"].mean())) < 1e-4 and abs(float(d.x["train"].std()) - 1) < 0.01
    assert (d.num_classes, d.in_channels, d.resolution) == (10, 1, 8)
    full = load_nas_data("digits", resolution=8, val_limit=None)
    assert len(full.y["val"]) > 250 and len(full.y["val"]) + len(full.y["train"]) == 1437  # all of it


def test_an_image_dataset_gives_its_problem():
    from engine.data.catalog import dataset_info
    from engine.problems import ImageClassification

    info = dataset_info("mnist-5k")
    assert info.problem() == ImageClassification(channels=1, size=28, classes=10)
    assert info.problem(size=32) == ImageClassification(channels=1, size=32, classes=10)
    assert dataset_info("photos").problem(size=24).channels == 3
