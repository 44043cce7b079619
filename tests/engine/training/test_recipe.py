"""train_model: seeded loaders and optimiser in one place, reproducible, channels-last for the run only."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from engine.training import TensorBatches, channels_last_during, make_loader, to_channels_last, train_model


def data(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] > 0).long()


def new_model() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))


def params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in m.parameters()])


@pytest.mark.parametrize("as_dataset", [True, False])
def test_one_seed_gives_one_run_and_the_global_generator_is_left_alone(as_dataset: bool):
    x, y = data()
    train = TensorDataset(x, y) if as_dataset else (x, y)
    runs = []
    for seed in (0, 0, 1):
        m = new_model()
        state = torch.random.get_rng_state()
        hist = train_model(m, train, epochs=3, batch_size=8, lr=0.1, seed=seed, val_data=train)
        assert torch.equal(torch.random.get_rng_state(), state)
        runs.append((params(m), hist.train_loss))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not torch.equal(runs[0][0], runs[2][0])
    assert runs[0][1][-1] < runs[0][1][0]


def test_optimiser_by_name_over_chosen_parameters():
    x, y = data()
    m = new_model()
    first = m[0].weight.detach().clone()
    train_model(m, (x, y), epochs=1, batch_size=16, lr=1e-2, optimizer="adamw", params=m[3].parameters())
    assert torch.equal(m[0].weight, first)
    with pytest.raises(ValueError):
        train_model(m, (x, y), epochs=1, batch_size=16, lr=1e-2, optimizer="lion")


def test_tensor_batches_cover_every_row_once_and_drop_a_short_last_batch():
    x = torch.arange(10)
    batches = list(TensorBatches((x,), 4, generator=torch.Generator().manual_seed(0)))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat([b[0] for b in batches]).tolist()) == list(range(10))
    assert len(TensorBatches((x,), 4, drop_last=True)) == 2 and len(TensorBatches((x,), 20, drop_last=True)) == 1
    assert torch.equal(next(iter(TensorBatches((x,), 10)))[0], x)  # no generator: in order
    assert len(make_loader(TensorDataset(x), batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError):
        TensorBatches((x, x[:3]), 2)
    with pytest.raises(TypeError, match="Dataset or a tuple of tensors"):
        make_loader([[1, 2], [3, 4]], batch_size=2, seed=0)


def test_channels_last_for_the_run_only():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(8, 3, 6, 6)
    y = torch.randint(0, 2, (8,))
    conv(x)
    formats = []
    train_model(conv, (x, y), epochs=1, batch_size=4, lr=0.01, channels_last=True,
                before_step=lambda g: formats.append(conv[0].weight.is_contiguous(memory_format=torch.channels_last)))
    assert formats == [True, True] and conv[0].weight.is_contiguous()
    assert to_channels_last(x).is_contiguous(memory_format=torch.channels_last)
    assert to_channels_last(y) is y
    with pytest.raises(RuntimeError), channels_last_during(conv):
        raise RuntimeError("a failed run")
    assert conv[0].weight.is_contiguous()
