"""The ``latency-model`` technique: measure sampled architectures of a search
space on the worker's hardware, build the lookup table, train the predictor,
compute the roofline for the chosen profile, and report how each source
compares with measured latency on held-out architectures (MAPE, RMSE,
Kendall tau). It hands its LUT and predictor back as a
:class:`~engine.outputs.LatencyModelOutput`, which the dashboard makes the
profile's default latency model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigBase, param
from ..hardware.cost import profile_model
from ..hardware.latency import LookupTableLatency, PredictorLatency, RooflineLatency, train_predictor
from ..hardware.lut.build import build_lut
from ..ranking import latency_errors
from ..hardware.measure import CLOCKS, STATISTICS
from ..hardware.profile import HardwareProfile
from ..outputs import LatencyModelOutput
from ..problems import ImageClassification
from ..reporter import Reporter, Summary
from ..spaces import get_space

__all__ = ["Config", "run"]


@dataclass(frozen=True)
class Config(ConfigBase):
    space: str = param("mbconv", help="Search space whose architectures are measured", choices=("mbconv",))
    samples: int = param(200, help="Architectures measured whole (train + held out)", min=8, max=5000)
    holdout: float = param(0.3, help="Fraction of the measured architectures held out for the comparison",
                           min=0.1, max=0.7)
    lut_ops: str = param("all", help="Measure every op of the space (a table usable for any candidate) or only "
                                     "the ops of the sampled architectures", choices=("all", "sampled"))
    calibrate: bool = param(True, help="Fit the table's scale and offset on the training architectures")
    threads: int = param(1, help="Torch threads, fixed during measurement", min=1, max=256)
    warmup: int = param(3, help="Untimed runs before timing each module", min=0, max=100)
    repeats: int = param(12, help="Timed runs per module (median taken)", min=1, max=500)
    rounds: int = param(4, help="Interleaved passes the repeats are split over", min=1, max=50)
    clock: str = param("thread", help="'thread': CPU time of the timing thread (needs 1 thread; immune to other "
                                      "processes on a shared machine); 'wall': elapsed time", choices=CLOCKS)
    statistic: str = param("median", help="Statistic of the timed runs", choices=STATISTICS, advanced=True)
    hidden: int = param(128, help="Units in each of the predictor's two hidden layers", min=8, max=1024)
    epochs: int = param(300, help="Predictor training epochs", min=5, max=5000)
    lr: float = param(3e-3, help="Predictor learning rate (AdamW)", min=1e-5, max=1.0)
    distill: int = param(20000, help="Random architectures labelled by the lookup table (calibrated on the training "
                                     "networks) that the predictor is first trained on, before fine-tuning on the "
                                     "measured networks; 0 = measured networks only. Needs lut_ops = all",
                         min=0, max=200000)
    num_classes: int = param(10, help="Classifier outputs of the measured networks", min=2, max=1000)
    seed: int = param(0, help="Seed of the sampled architectures and the predictor", min=0, max=2**31 - 1)

    def check(self) -> dict[str, str]:
        if self.clock == "thread" and self.threads != 1:
            return {"clock": "the thread clock needs threads = 1"}
        if round(self.samples * self.holdout) < 2 or self.samples - round(self.samples * self.holdout) < 4:
            return {"samples": "too few samples for this holdout (need >= 4 to train and >= 2 held out)"}
        return {}


def run(config: Config, hardware: HardwareProfile, reporter: Reporter) -> Summary:
    space = get_space(config.space)
    problem = ImageClassification(classes=config.num_classes)
    rng = np.random.default_rng(config.seed)
    archs = space.sample_distinct(rng, config.samples)
    n_test = int(round(len(archs) * config.holdout))
    train_archs, test_archs = archs[:-n_test], archs[-n_test:]
    if config.lut_ops == "all":
        ops = space.all_ops(problem)
    else:
        ops = list({op.key: op for a in archs for op in space.ops(a, problem)}.values())
    reporter.progress(0.0, f"measuring {len(ops)} ops and {len(archs)} architectures "
                           f"({config.rounds} interleaved passes, {config.threads} thread, {config.clock} clock)")

    def tick(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            reporter.progress(0.7 * done / total, f"measured {done}/{total} modules")

    table = build_lut(space, problem, threads=config.threads, warmup=config.warmup, repeats=config.repeats,
                      rounds=config.rounds, ops=ops, archs=archs, seed=config.seed,
                      profile=hardware.name, statistic=config.statistic, clock=config.clock, progress=tick)
    measured = np.array([s["ms"] for s in table.samples])
    y_train, y_test = measured[:-n_test], measured[-n_test:]
    raw_lut = LookupTableLatency(table, space, hardware, calibrated=False).estimate_ms_many(test_archs)
    if config.calibrate:
        table.calibrate(space, train_archs, y_train)
    lut_ms = LookupTableLatency(table, space, hardware).estimate_ms_many(test_archs)

    reporter.progress(0.72, f"training the predictor on {len(train_archs)} measured architectures")
    last = [0.0]

    def fit_progress(frac: float, message: str, m: dict[str, float]) -> None:
        if frac - last[0] >= 0.02 or frac >= 1.0:
            last[0] = frac
            reporter.progress(0.72 + 0.18 * frac, f"predictor: {message}")
            reporter.series("predictor_loss", round(frac * config.epochs, 2), m.get("loss", float("nan")))

    distil = table if config.distill > 0 and table.covers(space) else None
    predictor = train_predictor(space, train_archs, y_train, hidden=(config.hidden, config.hidden),
                                epochs=config.epochs, lr=config.lr, seed=config.seed, progress=fit_progress,
                                lut=distil, lut_samples=config.distill,
                                meta={"device": table.meta["device"], "threads": table.meta["threads"],
                                      "clock": config.clock, "profile": hardware.name})
    pred_ms = PredictorLatency(predictor, space, hardware).estimate_ms_many(test_archs)
    roof = RooflineLatency(hardware, space, problem)
    roof_ms = roof.estimate_ms_many(test_archs)
    errors = {"lut": latency_errors(lut_ms, y_test), "lut_uncalibrated": latency_errors(raw_lut, y_test),
              "predictor": latency_errors(pred_ms, y_test), "roofline": latency_errors(roof_ms, y_test)}
    predictor.meta["val_rmse_ms"] = errors["predictor"]["rmse_ms"]
    predictor.meta["val_mape"] = errors["predictor"]["mape"]

    reporter.progress(0.92, f"reporting {len(test_archs)} held-out architectures")
    for i, a in enumerate(test_archs):
        cost = profile_model(space.build(a, problem), space.example_inputs(a, problem))
        reporter.candidate(a, {"latency_ms": float(y_test[i]), "latency_source": "measured",
                               "measured_ms": float(y_test[i]), "lut_ms": float(lut_ms[i]),
                               "predictor_ms": float(pred_ms[i]), "roofline_ms": float(roof_ms[i]),
                               "params": cost.params, "macs": cost.macs,
                               "peak_memory_bytes": cost.peak_activation_bytes})
    for i in np.argsort(y_test):
        reporter.series("predicted vs measured latency (ms)/lut", float(y_test[i]), float(lut_ms[i]))
        reporter.series("predicted vs measured latency (ms)/predictor", float(y_test[i]), float(pred_ms[i]))
        reporter.series("predicted vs measured latency (ms)/roofline", float(y_test[i]), float(roof_ms[i]))

    work = Path(reporter.workdir)
    lut_path = table.save(work / "latency-lut.json")
    pred_path = predictor.save(work / "latency-predictor.json")
    st_path = predictor.save(work / "latency-predictor.safetensors")
    metrics_path = work / "latency-errors.json"
    doc = {"profile": hardware.name, "device": table.meta["device"], "space": space.name,
           "train_samples": len(train_archs), "test_samples": len(test_archs), "clock": config.clock,
           "threads": table.meta["threads"], "calibration": table.meta.get("calibration"), "errors": errors}
    metrics_path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    reporter.artifact("json", lut_path, f"Lookup table: {len(table.entries)} ops, {len(archs)} measured networks "
                                        f"on {table.meta['device']}", group="latency-model")
    reporter.artifact("json", pred_path, "Latency predictor (MLP on the architecture encoding), JSON",
                      group="latency-model")
    reporter.artifact("safetensors", st_path, "Latency predictor weights (safetensors)", group="latency-model")
    reporter.artifact("json", metrics_path, "MAPE, RMSE and Kendall tau of each source on held-out networks",
                      group="latency-model")
    reporter.output(LatencyModelOutput(lookup_table=lut_path, predictor=pred_path))
    out: dict[str, Any] = {"train_samples": len(train_archs), "test_samples": len(test_archs),
                           "lut_entries": len(table.entries),
                           "predictor_distilled_from_lut": int(predictor.meta.get("distilled_from_lut", 0))}
    for src, e in errors.items():
        for k, v in e.items():
            out[f"{src}_{k}"] = v
    reporter.progress(1.0, "done")
    msg = (f"On {len(test_archs)} held-out networks: LUT MAPE {errors['lut']['mape']:.1%} "
           f"(tau {errors['lut']['kendall_tau']:.2f}), predictor MAPE {errors['predictor']['mape']:.1%} "
           f"(tau {errors['predictor']['kendall_tau']:.2f}), roofline ({hardware.name}, an estimate) MAPE "
           f"{errors['roofline']['mape']:.1%} (tau {errors['roofline']['kendall_tau']:.2f}) vs latency measured "
           f"on {table.meta['device']}")
    return Summary(message=msg, metrics=out)
