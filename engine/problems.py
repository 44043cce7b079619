"""Problems: what a model eats and emits, and example inputs of that shape.

A search space, the cost model, lookup tables and latency measurement take a
problem instead of a bare ``num_classes`` / ``in_channels`` or
``torch.randn(shape)``. (Not called "task": that word is the Celery package's.)

    problem = ImageClassification(channels=1, size=28, classes=10)
    (x,) = problem.example_inputs(batch=1)               # (1, 1, 28, 28) float
    (x,) = problem.example_inputs(1, resolution=32)      # a space measuring at its own resolution
    src, tgt = SequenceToSequence(8000, 8000, 30, 30).example_inputs()   # token ids, long
    problem_from_dict(problem.to_dict()) == problem

Example inputs come from a seeded generator (``seed=0`` by default), so two
measurements of one module see the same tensors. :class:`InputSpec` describes
one input as plain data (shape, dtype, value range) for what builds inputs
later (a lookup table's op, a device agent).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar, Sequence

import torch

__all__ = ["Problem", "ImageClassification", "SequenceToSequence", "PoseForecast", "VideoForecast", "InputSpec",
           "PROBLEMS", "problem_from_dict", "make_inputs"]

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


@dataclass(frozen=True)
class InputSpec:
    """One input tensor as data: ``shape`` (batch included), ``dtype``
    (``float32``: standard normal values; ``int64``: token ids in ``[0, high)``)."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    high: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {self.dtype!r}")
        if not self.shape or any(int(s) < 1 for s in self.shape):
            raise ValueError(f"shape must be positive sizes, got {self.shape!r}")
        if self.dtype == "int64" and (self.high is None or self.high < 1):
            raise ValueError("an int64 input needs high >= 1 (ids are drawn from [0, high))")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    def make(self, generator: torch.Generator) -> torch.Tensor:
        if self.dtype == "int64":
            assert self.high is not None
            return torch.randint(0, self.high, self.shape, generator=generator, dtype=torch.int64)
        return torch.randn(self.shape, generator=generator)


def make_inputs(specs: Sequence[InputSpec], *, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Tensors for ``specs`` from one generator seeded with ``seed`` (CPU)."""
    gen = torch.Generator().manual_seed(int(seed))
    return tuple(s.make(gen) for s in specs)


def _check_ints(problem: "Problem", bounds: dict[str, tuple[int, int]]) -> None:
    errors = []
    for name, (lo, hi) in bounds.items():
        v = getattr(problem, name)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            errors.append(f"{name} must be a whole number from {lo} to {hi} (got {v!r:.40})")
    if errors:
        raise ValueError(f"invalid {problem.kind} problem: " + "; ".join(errors))


@dataclass(frozen=True)
class Problem(ABC):
    """What a model eats and emits. Subclasses are frozen dataclasses of ints."""

    kind: ClassVar[str] = ""
    #: field name -> (min, max), checked in ``__post_init__``
    bounds: ClassVar[dict[str, tuple[int, int]]] = {}

    def __post_init__(self) -> None:
        _check_ints(self, self.bounds)

    @abstractmethod
    def input_specs(self, batch: int = 1, **kw: Any) -> tuple[InputSpec, ...]:
        """The inputs of one forward pass, as data."""

    def example_inputs(self, batch: int = 1, *, seed: int = 0, **kw: Any) -> tuple[torch.Tensor, ...]:
        """Seeded example tensors for ``model(*inputs)`` (CPU)."""
        return make_inputs(self.input_specs(batch, **kw), seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


def _batch(batch: int) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a whole number >= 1, got {batch!r}")
    return batch


@dataclass(frozen=True)
class ImageClassification(Problem):
    """Images of ``channels`` x ``size`` x ``size`` in, ``classes`` logits out."""

    channels: int = 3
    size: int = 32
    classes: int = 10

    kind: ClassVar[str] = "image-classification"
    bounds: ClassVar[dict[str, tuple[int, int]]] = {"channels": (1, 64), "size": (1, 4096), "classes": (1, 100_000)}

    def input_specs(self, batch: int = 1, *, resolution: int | None = None) -> tuple[InputSpec, ...]:
        """One float tensor (batch, channels, r, r); ``resolution`` (a space's
        own input size) replaces ``size``."""
        r = self.size if resolution is None else int(resolution)
        return (InputSpec((_batch(batch), self.channels, r, r)),)


@dataclass(frozen=True)
class SequenceToSequence(Problem):
    """Source token ids in, target-vocabulary logits out (a translation transformer)."""

    src_vocab: int
    tgt_vocab: int
    src_len: int
    tgt_len: int

    kind: ClassVar[str] = "sequence-to-sequence"
    bounds: ClassVar[dict[str, tuple[int, int]]] = {"src_vocab": (2, 10_000_000), "tgt_vocab": (2, 10_000_000),
                                                    "src_len": (1, 100_000), "tgt_len": (1, 100_000)}

    def input_specs(self, batch: int = 1) -> tuple[InputSpec, ...]:
        """Source ids (batch, src_len) and target ids (batch, tgt_len), int64."""
        b = _batch(batch)
        return (InputSpec((b, self.src_len), "int64", self.src_vocab),
                InputSpec((b, self.tgt_len), "int64", self.tgt_vocab))


@dataclass(frozen=True, kw_only=True)
class PoseForecast(Problem):
    """Observed poses of ``people`` (``joints`` x ``dims`` coordinates per
    frame) in, the next ``future_frames`` poses out."""

    people: int
    joints: int
    dims: int = 2
    observed_frames: int
    future_frames: int

    kind: ClassVar[str] = "pose-forecast"
    bounds: ClassVar[dict[str, tuple[int, int]]] = {"people": (1, 1000), "joints": (1, 1000), "dims": (1, 3),
                                                    "observed_frames": (1, 100_000),
                                                    "future_frames": (1, 100_000)}

    def input_specs(self, batch: int = 1) -> tuple[InputSpec, ...]:
        """One float tensor (batch, people, observed_frames, joints, dims)."""
        return (InputSpec((_batch(batch), self.people, self.observed_frames, self.joints, self.dims)),)


@dataclass(frozen=True, kw_only=True)
class VideoForecast(Problem):
    """Observed frames (``channels`` x ``size`` x ``size``) in, the next
    ``future_frames`` frames out; with ``people`` > 0 the model also takes
    every person's COCO-17 pixel keypoints over the observed and future frames
    (a renderer of forecast poses)."""

    channels: int = 3
    size: int
    observed_frames: int
    future_frames: int
    people: int = 0

    kind: ClassVar[str] = "video-forecast"
    bounds: ClassVar[dict[str, tuple[int, int]]] = {"channels": (1, 64), "size": (4, 4096),
                                                    "observed_frames": (1, 100_000), "future_frames": (1, 100_000),
                                                    "people": (0, 1000)}

    def input_specs(self, batch: int = 1) -> tuple[InputSpec, ...]:
        """Frames (batch, observed_frames, channels, size, size) and, with people, keypoints
        (batch, people, observed_frames + future_frames, 17, 2)."""
        b = _batch(batch)
        frames = InputSpec((b, self.observed_frames, self.channels, self.size, self.size))
        if not self.people:
            return (frames,)
        return frames, InputSpec((b, self.people, self.observed_frames + self.future_frames, 17, 2))


#: kind -> problem class
PROBLEMS: dict[str, type[Problem]] = {cls.kind: cls for cls in (ImageClassification, SequenceToSequence,
                                                                 PoseForecast, VideoForecast)}


def problem_from_dict(d: Any) -> Problem:
    """The problem ``Problem.to_dict`` wrote; raises ValueError saying what is wrong."""
    if isinstance(d, Problem):
        return d
    if not isinstance(d, dict):
        raise ValueError(f"a problem is an object with a 'kind', not {type(d).__name__}")
    kind = d.get("kind")
    if kind not in PROBLEMS:
        raise ValueError(f"unknown problem kind {str(kind)[:60]!r} (one of {', '.join(PROBLEMS)})")
    cls = PROBLEMS[kind]
    names = {f.name for f in fields(cls)}
    extra = sorted(set(d) - names - {"kind"})
    if extra:
        raise ValueError(f"unknown fields of a {kind} problem: {', '.join(map(str, extra))[:200]}")
    required = [f.name for f in fields(cls) if f.default is MISSING and f.name not in d]
    if required:
        raise ValueError(f"a {kind} problem needs {', '.join(required)}")
    return cls(**{k: v for k, v in d.items() if k != "kind"})
