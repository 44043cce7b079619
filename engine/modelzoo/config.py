"""Settings of the model-zoo benchmark."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigBase, param
from ..data import DATASETS
from ..hardware.measure import CLOCKS
from .zoo import MODELS, WIDTH_RANGE, supports_width, width_support

__all__ = ["Config", "CLASSIFICATION_DATASETS", "skipped_combinations"]

#: ``photos`` holds one image per class, so it cannot be split for training.
CLASSIFICATION_DATASETS: tuple[str, ...] = tuple(d for d in DATASETS if d != "photos")


@dataclass(frozen=True)
class Config(ConfigBase):
    models: tuple[str, ...] = param(
        ("mobilenet_v2", "mobilenet_v3_small", "mnasnet", "shufflenet_v2", "squeezenet1_1", "resnet18"),
        help="torchvision architectures to benchmark (built untrained, weights=None)", choices=tuple(MODELS))
    widths: tuple[float, ...] = param(
        (0.5, 1.0), min=WIDTH_RANGE[0], max=WIDTH_RANGE[1], max_items=8,
        help="Width multipliers. mobilenet_v2/v3 and mnasnet take any width; shufflenet_v2 has 0.5, 1.0, "
             "1.5, 2.0; resnet18, squeezenet1_1 and efficientnet_b0 only 1.0. Combinations a model lacks "
             "are skipped and listed in the summary.")
    resolutions: tuple[int, ...] = param((32,), min=32, max=512, max_items=8,
                                         help="Square input resolutions in pixels")
    dataset: str = param("mnist-5k", choices=CLASSIFICATION_DATASETS,
                         help="Dataset for the short training (and the number of classes); images are "
                              "resized to each resolution and made 3-channel")
    train_epochs: int = param(2, min=0, max=50,
                              help="Epochs of training from scratch per network; 0 skips training (no accuracy)")
    batch_size: int = param(64, min=2, max=1024, help="Training batch size")
    lr: float = param(0.002, min=1e-6, max=1.0, help="Peak learning rate (cosine schedule)")
    optimizer: str = param("adamw", choices=("sgd", "adam", "adamw"), help="Optimiser for the training",
                           advanced=True)
    max_train_samples: int = param(2000, min=32, max=200_000,
                                   help="Bound on training images; 20% of the dataset is held out for "
                                        "validation (at most max(200, max_train_samples/4) images)")
    latency_repeats: int = param(10, min=1, max=1000, help="Timed forward passes per network (median reported)")
    latency_warmup: int = param(3, min=0, max=100, help="Untimed forward passes before timing")
    threads: int = param(1, min=0, max=256, help="CPU threads while timing latency (0: PyTorch's default)")
    latency_clock: str = param("wall", choices=CLOCKS, advanced=True,
                               help="wall: elapsed time (what a user waits); thread: the timing thread's CPU "
                                    "time, steadier on a shared machine (needs threads=1)")
    measure_on_device: bool = param(False, help="Run on the profile's own device worker (queue device.<profile>) "
                                               "and measure latency there instead of estimating it")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed of weight initialisation, data split and shuffling")

    def check(self) -> dict[str, str]:
        errors = {}
        skipped = skipped_combinations(self.models, self.widths)
        if len(skipped) == len(self.models) * len(self.widths):
            detail = "; ".join(f"{m}: {width_support(m)}" for m in self.models)
            errors["widths"] = f"no chosen model has any chosen width ({detail})"
        if self.latency_clock == "thread" and self.threads != 1:
            errors["latency_clock"] = "the thread clock needs threads=1"
        return errors


def skipped_combinations(models: tuple[str, ...], widths: tuple[float, ...]) -> list[tuple[str, float]]:
    """(model, width) pairs that the model family does not have."""
    return [(m, w) for m in models for w in widths if not supports_width(m, w)]
