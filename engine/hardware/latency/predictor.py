"""Learned latency predictor (HAT style): a small MLP on a search space's
fixed-length architecture encoding, trained on measured latencies.

It predicts log-latency (standardised), so relative errors weigh the same for
fast and slow networks, and scores a batch with one matrix product per layer
(tens of thousands of architectures per second). Saved as JSON (weights as
lists) or safetensors (weights, with the JSON header in the metadata); no pickle.

Whole networks are slow to measure, so a few hundred measured samples leave the
MLP short of data (it must learn how every block's cost scales with the
resolution). Given the device's lookup table (``lut=``), the predictor is first
*distilled* from it: thousands of random architectures labelled with the
table's sum, calibrated (scale, per-op cost, offset) on the measured samples; then it is
fine-tuned on the measured samples themselves. The table and the measured
networks are both measurements of the same device; the result is still a
stand-alone MLP on the plain encoding (same JSON, no table needed to score).

    pred = train_predictor(space, archs, measured_ms, seed=0)
    pred = train_predictor(space, archs, measured_ms, lut=table, seed=0)   # distilled, then fine-tuned
    ms = pred.predict_ms(space.encode_many(candidates))
    PredictorLatency(pred, space, profile).estimate_many(candidates)
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ...nn.mlp import MLPRegressor
from ..lut.calibration import fit_calibration
from ..measure import fixed_threads
from .base import LatencyEstimate, LatencyEstimator

if TYPE_CHECKING:  # pragma: no cover
    from ...spaces.base import SearchSpace
    from ..lut.table import LookupTable
    from ..profile import HardwareProfile

__all__ = ["LatencyPredictor", "PredictorLatency", "PredictorError", "train_predictor", "validate_predictor_json",
           "PREDICTOR_FORMAT", "MAX_PREDICTOR_BYTES"]

PREDICTOR_FORMAT = "frontier-latency-predictor"
MAX_PREDICTOR_BYTES = 16 * 2**20


class PredictorError(ValueError):
    """An invalid saved predictor; the message says what is wrong."""


class LatencyPredictor(MLPRegressor):
    """The engine's MLP regressor: encoding → hidden (ReLU) … → log-latency (trained standardised)."""

    def __init__(self, encoding_size: int, hidden: Sequence[int] = (128, 128), *, space: str = "",
                 space_params: dict[str, Any] | None = None, target_mean: float = 0.0, target_std: float = 1.0,
                 meta: dict[str, Any] | None = None):
        super().__init__(encoding_size, hidden, target_mean=target_mean, target_std=target_std)
        self.encoding_size = self.in_features
        self.space, self.space_params = space, dict(space_params or {})
        self.meta = dict(meta or {})

    def matches(self, space: "SearchSpace") -> bool:
        return space.name == self.space and space.params() == self.space_params and \
            space.encoding_size == self.encoding_size

    @torch.inference_mode()
    def predict_ms(self, encodings: np.ndarray | torch.Tensor) -> np.ndarray:
        with fixed_threads(1):
            return self._predict_ms(encodings)

    def _predict_ms(self, encodings: np.ndarray | torch.Tensor) -> np.ndarray:
        x = torch.as_tensor(np.asarray(encodings, dtype=np.float32))
        if x.dim() != 2 or x.shape[1] != self.encoding_size:
            raise ValueError(f"encodings must be (n, {self.encoding_size}), got {tuple(x.shape)}")
        was = self.training
        self.eval()
        z = self.standardised(x)
        self.train(was)
        return torch.exp(z.double() * self.target_std + self.target_mean).numpy()

    # -- persistence -------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {"format": PREDICTOR_FORMAT, "version": 1, "encoding_size": self.encoding_size,
                "hidden": list(self.hidden), "space": self.space, "space_params": self.space_params,
                "target": "log(ms)", "target_mean": float(self.target_mean), "target_std": float(self.target_std),
                "meta": self.meta}

    def to_json(self) -> dict[str, Any]:
        return {**self.header(), "weights": {k: v.tolist() for k, v in self.layer_weights().items()}}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file
            save_file({k: v.contiguous() for k, v in self.layer_weights().items()}, str(path),
                      metadata={"header": json.dumps(self.header())})
        else:
            path.write_text(json.dumps(self.to_json()), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LatencyPredictor":
        path = Path(path)
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            with safe_open(str(path), framework="pt") as fh:
                header = json.loads((fh.metadata() or {}).get("header", "{}"))
                weights = {k: fh.get_tensor(k) for k in fh.keys()}
            return _from_parts(header, weights)
        return validate_predictor_json(path.read_bytes())


def _from_parts(header: dict[str, Any], weights: dict[str, torch.Tensor]) -> LatencyPredictor:
    if header.get("format") != PREDICTOR_FORMAT:
        raise PredictorError(f"format: expected {PREDICTOR_FORMAT!r}")
    try:
        enc = int(header["encoding_size"])
        hidden = [int(h) for h in header["hidden"]]
        mean, std = float(header["target_mean"]), float(header["target_std"])
    except (KeyError, TypeError, ValueError) as e:
        raise PredictorError(f"header: missing or malformed field ({e})") from None
    if not (1 <= enc <= 100_000) or len(hidden) > 8 or any(not 1 <= h <= 4096 for h in hidden):
        raise PredictorError("encoding_size must be 1..100000 and at most 8 hidden layers of 1..4096 units")
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise PredictorError("target_mean and target_std must be finite, target_std > 0")
    model = LatencyPredictor(enc, hidden, space=str(header.get("space", "")),
                             space_params=header.get("space_params") or {}, target_mean=mean, target_std=std,
                             meta=header.get("meta") or {})
    expected = {k: tuple(v.shape) for k, v in model.layer_weights().items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != got:
        raise PredictorError(f"weights: expected tensors {expected}, got {got}")
    if not all(torch.isfinite(v).all() for v in weights.values()):
        raise PredictorError("weights: contain NaN or infinity")
    model.load_layer_weights(weights)
    return model.eval()


def validate_predictor_json(data: bytes | str | dict[str, Any], *, max_bytes: int = MAX_PREDICTOR_BYTES
                            ) -> LatencyPredictor:
    """Parse and check a saved predictor (what ``LatencyPredictor.to_json`` writes)."""
    if isinstance(data, (bytes, bytearray, str)):
        size = len(data.encode("utf-8") if isinstance(data, str) else data)
        if size > max_bytes:
            raise PredictorError(f"the file is {size / 2**20:.1f} MiB; at most {max_bytes / 2**20:.0f} MiB allowed")
        try:
            data = json.loads(data)
        except ValueError as e:  # not JSON, not UTF-8, or an integer too long to convert
            raise PredictorError(f"not valid JSON: {str(e)[:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("weights"), dict):
        raise PredictorError("a predictor is a JSON object with a 'weights' object")
    try:
        weights = {str(k): torch.tensor(v, dtype=torch.float32) for k, v in data["weights"].items()}
    except (TypeError, ValueError) as e:
        raise PredictorError(f"weights: not numeric arrays ({e})") from None
    return _from_parts(data, weights)


def _mlp_fit(model: LatencyPredictor, x: torch.Tensor, logy: torch.Tensor, *, seed: int,
             progress: Callable[[float, str, dict[str, float]], None] | None, **kwargs: Any) -> None:
    with fixed_threads(1):  # a tiny MLP: extra threads only add synchronisation on a busy machine
        model.fit_tensors(x, logy, optimizer="adamw", seed=seed, progress=progress, **kwargs)


def train_predictor(space: "SearchSpace", archs: Sequence[dict[str, Any]] | None, measured_ms: Sequence[float], *,
                    hidden: Sequence[int] = (128, 128), epochs: int = 300, lr: float = 3e-3, batch_size: int = 32,
                    weight_decay: float = 1e-4, seed: int = 0, meta: dict[str, Any] | None = None,
                    progress: Callable[[float, str, dict[str, float]], None] | None = None,
                    lut: "LookupTable | None" = None, lut_samples: int = 20000, lut_epochs: int = 30,
                    finetune_lr: float | None = None, encodings: np.ndarray | None = None) -> LatencyPredictor:
    """Train on (architecture, measured ms) pairs with the engine's one loop.

    With ``lut`` (a lookup table of the same device covering ``space``), first
    distil: ``lut_samples`` random architectures (seeded) labelled with the
    table's sum calibrated on ``archs`` / ``measured_ms``, ``lut_epochs`` epochs
    (batch 128, ``lr``); then fine-tune on the measured pairs for ``epochs``
    at ``finetune_lr`` (default ``lr / 3``). Without it, train on the measured
    pairs alone (``epochs`` at ``lr``). ``encodings`` (n, encoding_size)
    replaces ``space.encode_many(archs)`` for samples known only by their
    encoding (a device's latency dataset of feature rows; ``archs`` None)."""
    y = np.asarray(measured_ms, dtype=np.float64)
    if encodings is not None:
        encodings = np.asarray(encodings, dtype=np.float32)
        if encodings.ndim != 2 or encodings.shape[1] != space.encoding_size:
            raise ValueError(f"encodings must be (n, {space.encoding_size})")
        if lut is not None:
            raise ValueError("a lookup table labels architectures; it cannot be used with encodings alone")
    n = len(encodings) if encodings is not None else len(archs or [])
    if n != len(y) or len(y) < 4:
        raise ValueError("need at least 4 (architecture, latency) pairs of equal count")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("latencies must be positive and finite")
    if lut is not None and not lut.covers(space):
        raise ValueError("the lookup table does not cover every op of the space; it cannot label random architectures")
    logy = np.log(y)
    x = torch.as_tensor(encodings if encodings is not None else space.encode_many(archs or []))
    info: dict[str, Any] = {"samples": int(len(y)), "epochs": epochs, "seed": seed}
    distil: tuple[torch.Tensor, np.ndarray] | None = None
    if lut is not None and lut_samples > 0:
        problem = lut.problem

        def sums(batch: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
            keys = [space.op_keys(a, problem) for a in batch]
            return np.array([lut.latency_ms(k) for k in keys]), np.array([len(k) for k in keys], dtype=np.float64)

        scale, per_op, offset = fit_calibration(*sums(archs), y)
        rng = np.random.default_rng(seed)
        many = getattr(space, "sample_many", None)
        pool = many(rng, int(lut_samples)) if many is not None else [space.sample(rng) for _ in range(int(lut_samples))]
        pool_sum, pool_ops = sums(pool)
        labels = pool_sum * scale + per_op * pool_ops + offset
        if np.all(np.isfinite(labels)) and np.all(labels > 0):
            distil = (torch.as_tensor(space.encode_many(pool)), np.log(labels))
            info.update({"distilled_from_lut": int(lut_samples), "lut_epochs": lut_epochs,
                         "lut_calibration": [scale, offset], "lut_per_op_ms": per_op, "lut_device": lut.meta.get("device", "")})
    ref = np.concatenate([logy, distil[1]]) if distil is not None else logy
    mean, std = float(ref.mean()), float(max(ref.std(), 1e-3))
    t = torch.as_tensor(logy.astype(np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LatencyPredictor(space.encoding_size, hidden, space=space.name, space_params=space.params(),
                                 target_mean=mean, target_std=std, meta={**info, **(meta or {})})
    if distil is None:
        _mlp_fit(model, x, t, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=seed,
                 progress=progress)
        return model.eval()

    def phase(lo: float, hi: float, name: str) -> Callable[[float, str, dict[str, float]], None] | None:
        if progress is None:
            return None
        return lambda frac, message, m: progress(lo + (hi - lo) * frac, f"{name}: {message}", m)

    xd, td = distil[0], torch.as_tensor(distil[1].astype(np.float32))
    _mlp_fit(model, xd, td, epochs=lut_epochs, lr=lr, batch_size=128, weight_decay=weight_decay, seed=seed,
             progress=phase(0.0, 0.5, "distilling the lookup table"))
    if epochs > 0:
        _mlp_fit(model, x, t, epochs=epochs, lr=finetune_lr if finetune_lr is not None else lr / 3,
                 batch_size=batch_size, weight_decay=weight_decay, seed=seed + 1,
                 progress=phase(0.5, 1.0, "fine-tuning on measured networks"))
    return model.eval()


class PredictorLatency(LatencyEstimator):
    """Batched predictions of a trained :class:`LatencyPredictor`."""

    source = "predictor"

    def __init__(self, predictor: LatencyPredictor, space: "SearchSpace | None" = None,
                 profile: "HardwareProfile | None" = None, *, fallback: LatencyEstimator | None = None):
        super().__init__(profile, space, fallback=fallback)
        self.predictor = predictor.eval()

    def estimate_model(self, model: nn.Module, example_inputs: tuple[torch.Tensor, ...],
                       **kwargs: Any) -> LatencyEstimate:
        """A network built by a space the predictor was trained on: its
        prediction; anything else goes to the fallback."""
        built = self.built_by_space(model)
        if built is not None and self.predictor.matches(built[1]):
            return self.estimate_arch(built[0]) if self.space is not None else \
                PredictorLatency(self.predictor, built[1], self.profile).estimate_arch(built[0])
        return super().estimate_model(model, example_inputs, **kwargs)

    def estimate_ms_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        return self.predictor.predict_ms(self._need_space().encode_many(archs))

    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate:
        self._need_space().validate(arch)
        return self.estimate_many([arch])[0]

    def estimate_many(self, archs: Iterable[dict[str, Any]]) -> list[LatencyEstimate]:
        rmse = self.predictor.meta.get("val_rmse_ms")
        return [LatencyEstimate(float(v), self.source, float(rmse) if rmse is not None else None, self.profile_name)
                for v in self.estimate_ms_many(archs)]
