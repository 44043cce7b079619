"""HAT's latency: measured its way, predicted its way.

Measurement (HAT's ``latency_dataset.py`` protocol): batch 1, a dummy source
sentence and a dummy target of fixed length; the encoder run once per timed
run, the decoder run *autoregressively* (one token per step, keys and values
of earlier steps cached, as fairseq's incremental decoding); ``warmup``
untimed runs, then ``repeats`` timed runs of each; the slowest and fastest 10 %
dropped and the rest averaged (:func:`trimmed_stats`). One thread by default.

Prediction: HAT's 10 architecture features (``HATSpace.encode``: embedding
dims, layer counts, mean FFN dims, mean heads, mean arbitrary-attention code,
each divided by the space's largest value) -> an MLP of three hidden layers of
400 (the engine's one MLP regressor, :func:`engine.hardware.latency.predictor.train_predictor`)
on encoder + decoder latency, against a linear least-squares fit on the same
features; both scored on held-out SubTransformers (RMSE, MAPE, Kendall tau).

Latency datasets read and write HAT's released CSV layout: the 10 feature
columns (raw values) plus ``latency_mean_encoder``, ``latency_mean_decoder``,
``latency_std_encoder``, ``latency_std_decoder`` (ms); other columns (HAT's
cache-miss counters) are ignored. :func:`read_latency_csv` refuses missing
columns, non-numeric or negative values and too few rows, naming the row and
the column.
"""
from __future__ import annotations

import csv
import gc
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..hardware.latency.predictor import LatencyPredictor, train_predictor
from ..hardware.measure import CLOCKS, fixed_threads
from ..ranking import latency_errors
from ..spaces.transformer import FEATURES, HATSpace

__all__ = ["trimmed_stats", "LatencyRecord", "measure_subtransformer", "roofline_record", "LatencyDataset",
           "read_latency_csv",
           "write_latency_csv", "LatencyCSVError", "LinearLatency", "fit_latency_models", "LatencyModels",
           "LATENCY_COLUMNS", "MIN_CSV_ROWS", "MAX_CSV_BYTES", "dummy_sentence"]

LATENCY_COLUMNS = ("latency_mean_encoder", "latency_mean_decoder", "latency_std_encoder", "latency_std_decoder")
MIN_CSV_ROWS = 20
MAX_CSV_ROWS = 200_000
MAX_CSV_BYTES = 32 * 2**20


def trimmed_stats(times_ms: Sequence[float], trim: float = 0.1) -> tuple[float, float]:
    """Mean and standard deviation after dropping the top and bottom ``trim``
    fraction of the sorted times (HAT: 10 %)."""
    t = np.sort(np.asarray(times_ms, dtype=np.float64))
    if not len(t):
        raise ValueError("no timings")
    k = int(len(t) * trim)
    kept = t[k:len(t) - k] if len(t) - 2 * k > 0 else t
    return float(kept.mean()), float(kept.std())


@dataclass(frozen=True)
class LatencyRecord:
    encoder_ms: float
    decoder_ms: float
    encoder_std_ms: float
    decoder_std_ms: float
    protocol: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def total_ms(self) -> float:
        return self.encoder_ms + self.decoder_ms


def dummy_sentence(length: int, vocab: int, seed: int = 0) -> torch.Tensor:
    """A fixed (1, length) sentence of ordinary token ids (no padding, no specials)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randint(4, max(5, vocab), (1, int(length)), generator=g)


@torch.inference_mode()
def measure_subtransformer(model: nn.Module, *, src_len: int, tgt_len: int, warmup: int = 5, repeats: int = 20,
                           threads: int | None = 1, seed: int = 0, clock: str = "wall") -> LatencyRecord:
    """Encoder and autoregressive-decoder latency of a static SubTransformer
    (:class:`engine.nn.transformer.HATTransformer`) by HAT's protocol.
    ``clock="thread"`` (one thread) times the thread's CPU time instead of
    wall time: on a shared machine other processes' preemption is then not
    counted (see :mod:`engine.hardware.measure`)."""
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}")
    if clock == "thread" and threads != 1:
        raise ValueError("the thread clock counts one thread's CPU time: use threads=1")
    now = time.thread_time if clock == "thread" else time.perf_counter
    model.eval()
    vocab = int(getattr(model, "vocab"))
    src, tgt = dummy_sentence(src_len, vocab, seed), dummy_sentence(tgt_len, vocab, seed + 1)

    def decode(memory: Any) -> None:
        cache = None
        for t in range(tgt_len):
            _, cache = model.step(tgt[:, t:t + 1], t, memory, cache)

    enabled = gc.isenabled()
    gc.disable()
    try:
        with fixed_threads(threads) as n:
            memory = model.encode(src)
            for _ in range(warmup):
                model.encode(src)
                decode(memory)
            enc, dec = [], []
            for _ in range(repeats):
                t0 = now()
                memory = model.encode(src)
                t1 = now()
                decode(memory)
                t2 = now()
                enc.append((t1 - t0) * 1e3)
                dec.append((t2 - t1) * 1e3)
    finally:
        if enabled:
            gc.enable()
    (em, es), (dm, ds) = trimmed_stats(enc), trimmed_stats(dec)
    return LatencyRecord(em, dm, es, ds, {"batch": 1, "src_len": src_len, "tgt_len": tgt_len, "warmup": warmup,
                                          "repeats": repeats, "threads": n, "clock": clock,
                                          "statistic": "trimmed mean (10 %)",
                                          "decoder": "autoregressive, KV cache"})


class _Encode(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, src: torch.Tensor) -> Any:
        return self.net.encode(src)


class _Step(nn.Module):
    def __init__(self, net: nn.Module, memory: Any):
        super().__init__()
        self.net, self.memory = net, memory

    def forward(self, token: torch.Tensor) -> Any:
        return self.net.step(token, 0, self.memory, None)


@torch.inference_mode()
def roofline_record(model: nn.Module, profile: Any, *, src_len: int, tgt_len: int, seed: int = 0) -> LatencyRecord:
    """An *estimate* of the same workload on a profile not at hand, from its
    datasheet figures (:func:`engine.hardware.latency.roofline.roofline_ms`):
    the encoder once, plus ``tgt_len`` decoder steps of one token each (every
    linear and norm layer, and the output projection onto the vocabulary;
    attention's own products over the cache are left out). Labelled ``roofline``."""
    from ..hardware.cost import LayerCost, profile_model
    from ..hardware.latency.roofline import roofline_ms

    model.eval()
    vocab = int(getattr(model, "vocab"))
    src, tok = dummy_sentence(src_len, vocab, seed), dummy_sentence(1, vocab, seed + 1)
    enc = roofline_ms(profile_model(_Encode(model), (src,)), profile).ms
    step_cost = profile_model(_Step(model, model.encode(src)), (tok,))
    d = int(model.decoder.dim)
    step_cost.layers.append(LayerCost("output_projection", "Linear", vocab * d, vocab * d, d, vocab, (1, d),
                                      (1, vocab)))
    dec = roofline_ms(step_cost, profile).ms * tgt_len
    return LatencyRecord(enc, dec, 0.0, 0.0, {"source": "roofline", "profile": getattr(profile, "name", ""),
                                              "src_len": src_len, "tgt_len": tgt_len})


# -- latency datasets (HAT's CSV layout) ------------------------------------------

class LatencyCSVError(ValueError):
    """A latency dataset that cannot be used; the message names the row and column."""


@dataclass
class LatencyDataset:
    """Raw HAT features (n, 10) and the four latency columns (ms)."""

    features: np.ndarray
    encoder_ms: np.ndarray
    decoder_ms: np.ndarray
    encoder_std_ms: np.ndarray
    decoder_std_ms: np.ndarray
    source: str = ""

    @property
    def total_ms(self) -> np.ndarray:
        return self.encoder_ms + self.decoder_ms

    def __len__(self) -> int:
        return len(self.features)


def read_latency_csv(data: bytes | str | Path, *, min_rows: int = MIN_CSV_ROWS, space: HATSpace | None = None
                     ) -> LatencyDataset:
    """Parse and check a latency dataset in HAT's layout (see the module's docstring).
    With ``space``, features beyond the space's largest values are refused too
    (the predictor could only extrapolate)."""
    source = ""
    if isinstance(data, Path) or (isinstance(data, str) and "\n" not in data and data.endswith(".csv")):
        path = Path(data)
        source = path.name
        if not path.is_file():
            raise LatencyCSVError(f"latency dataset {path.name!r} does not exist")
        if path.stat().st_size > MAX_CSV_BYTES:
            raise LatencyCSVError(f"{path.name} is {path.stat().st_size / 2**20:.1f} MiB; at most "
                                  f"{MAX_CSV_BYTES / 2**20:.0f} MiB")
        data = path.read_bytes()
    if isinstance(data, bytes):
        if len(data) > MAX_CSV_BYTES:
            raise LatencyCSVError(f"the file is {len(data) / 2**20:.1f} MiB; at most {MAX_CSV_BYTES / 2**20:.0f} MiB")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise LatencyCSVError(f"not UTF-8 text (byte {e.start})") from None
    rows = list(csv.reader(io.StringIO(data)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise LatencyCSVError("the latency dataset is empty")
    header = [c.strip() for c in rows[0]]
    needed = (*FEATURES, *LATENCY_COLUMNS)
    missing = [c for c in needed if c not in header]
    if missing:
        raise LatencyCSVError(f"missing columns: {', '.join(missing)} (HAT's layout: the 10 feature columns and "
                              f"{', '.join(LATENCY_COLUMNS)})")
    body = rows[1:]
    if len(body) < min_rows:
        raise LatencyCSVError(f"{len(body)} data rows; at least {min_rows} are needed to train and test a predictor")
    if len(body) > MAX_CSV_ROWS:
        raise LatencyCSVError(f"{len(body):,} data rows; at most {MAX_CSV_ROWS:,}")
    idx = {c: header.index(c) for c in needed}
    values = np.empty((len(body), len(needed)), dtype=np.float64)
    for r, row in enumerate(body, start=2):
        for j, col in enumerate(needed):
            i = idx[col]
            cell = row[i].strip() if i < len(row) else ""
            try:
                v = float(cell)
            except ValueError:
                raise LatencyCSVError(f"row {r}, column {col}: {cell[:40]!r} is not a number") from None
            if not np.isfinite(v):
                raise LatencyCSVError(f"row {r}, column {col}: {cell[:40]!r} is not a finite number")
            lo = -1.0 if col == "decoder_arbitrary_ende_attn_avg" else 0.0
            if v < lo:
                raise LatencyCSVError(f"row {r}, column {col}: {v:g} is negative")
            if col in ("latency_mean_encoder", "latency_mean_decoder") and v <= 0:
                raise LatencyCSVError(f"row {r}, column {col}: a latency must be > 0 ms")
            values[r - 2, j] = v
    feats = values[:, :len(FEATURES)]
    if space is not None:
        over = np.argwhere(feats > space.norm[None] + 1e-9)
        if len(over):
            r, j = over[0]
            raise LatencyCSVError(f"row {r + 2}, column {FEATURES[j]}: {feats[r, j]:g} is beyond the {space.preset} "
                                  f"space's largest value {space.norm[j]:g}")
    lat = values[:, len(FEATURES):]
    total = lat[:, 0] + lat[:, 1]
    if np.ptp(total) <= 0:
        raise LatencyCSVError("every row has the same latency: nothing to learn")
    return LatencyDataset(feats, lat[:, 0], lat[:, 1], lat[:, 2], lat[:, 3], source=source)


def write_latency_csv(path: str | Path, features: np.ndarray, records: Sequence[LatencyRecord]) -> Path:
    """Measured SubTransformers in HAT's layout (so they can be uploaded again elsewhere)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*FEATURES, *LATENCY_COLUMNS])
        for f, r in zip(features, records):
            w.writerow([*(f"{v:g}" for v in f), f"{r.encoder_ms:.6f}", f"{r.decoder_ms:.6f}",
                        f"{r.encoder_std_ms:.6f}", f"{r.decoder_std_ms:.6f}"])
    return path


# -- predictors ------------------------------------------------------------------------

class LinearLatency:
    """Least squares ``ms = w . features + b`` on the normalised features (the baseline)."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        a = np.hstack([np.asarray(x, dtype=np.float64), np.ones((len(x), 1))])
        self.coef, *_ = np.linalg.lstsq(a, np.asarray(y, dtype=np.float64), rcond=None)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x @ self.coef[:-1] + self.coef[-1]


#: the MLP earns its keep only with a held-out MAPE below this fraction of the linear fit's (a few held-out
#: rows measured on a busy machine cannot tell a smaller gap from chance)
MLP_MARGIN = 0.9


def mlp_earns_keep(errors: dict[str, dict[str, float]]) -> bool:
    """Whether the MLP's held-out MAPE beats the linear fit's by the margin."""
    return errors["mlp"]["mape"] < MLP_MARGIN * errors["linear"]["mape"]


@dataclass
class LatencyModels:
    mlp: LatencyPredictor
    linear: LinearLatency
    #: held-out errors: {"mlp": {"mape", "rmse_ms", "kendall_tau"}, "linear": {...}}
    errors: dict[str, dict[str, float]]
    #: held-out (true ms, MLP ms, linear ms)
    held_out: tuple[np.ndarray, np.ndarray, np.ndarray]
    train_rows: int
    #: the rows held out (indices into the dataset)
    test_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


def fit_latency_models(space: HATSpace, features: np.ndarray, total_ms: np.ndarray, *, test_fraction: float = 0.2,
                       hidden: Sequence[int] = (400, 400, 400), epochs: int = 300, lr: float = 1e-3,
                       seed: int = 0, meta: dict[str, Any] | None = None,
                       progress: Callable[[float, str, dict[str, float]], None] | None = None) -> LatencyModels:
    """The MLP and the linear fit, trained on the same seeded split of rows and
    scored on the held-out rest."""
    x = space.normalise(features)
    y = np.asarray(total_ms, dtype=np.float64)
    n = len(y)
    if n < 5:
        raise ValueError(f"{n} latency samples; at least 5 are needed")
    order = np.random.default_rng(seed).permutation(n)
    k = min(n - 4, max(2, int(round(n * test_fraction))))
    test, train = order[:k], order[k:]
    mlp = train_predictor(space, None, y[train], encodings=x[train], hidden=hidden, epochs=epochs, lr=lr,
                          batch_size=min(128, max(8, len(train) // 4)), seed=seed,
                          meta={"features": list(FEATURES), "target": "encoder + decoder ms", **(meta or {})},
                          progress=progress)
    lin = LinearLatency(x[train], y[train])
    p_mlp, p_lin = mlp.predict_ms(x[test]), lin.predict(x[test])
    errors = {"mlp": latency_errors(p_mlp, y[test]), "linear": latency_errors(p_lin, y[test])}
    # the error on the rows each was fitted on: an MLP far below its held-out error has learnt the rows' noise
    # (a few dozen rows measured on a busy machine), a linear fit near it is at the noise floor
    errors["mlp"]["train_mape"] = float(np.mean(np.abs(mlp.predict_ms(x[train]) - y[train]) / y[train]))
    errors["linear"]["train_mape"] = float(np.mean(np.abs(lin.predict(x[train]) - y[train]) / y[train]))
    mlp.meta["val_rmse_ms"] = errors["mlp"]["rmse_ms"]
    mlp.meta["val_mape"] = errors["mlp"]["mape"]
    return LatencyModels(mlp, lin, errors, (y[test], p_mlp, p_lin), len(train), test)
