"""Latency sources behind one interface, and the one entry point that picks one.

- ``base``: :class:`LatencyEstimate`, :class:`LatencyEstimator`, :data:`SOURCES`;
- one module per source, each importing only ``base`` (and the cost model,
  measurement or lookup-table modules it needs): ``measured``, ``lut``,
  ``predictor`` (also the :class:`LatencyPredictor` model and its JSON),
  ``roofline``;
- ``choose``: :func:`latency_for`, which picks the source for a profile, a
  space and a problem.
"""
from .base import SOURCES, LatencyEstimate, LatencyEstimator
from .choose import (PURPOSES, SEARCH_LUT_PROTOCOL, SEARCH_SOURCES, attached_predictor, attached_table,
                     cached_table_path, latency_for)
from .lut import LookupTableLatency
from .measured import MeasuredLatency, default_device
from .predictor import (MAX_PREDICTOR_BYTES, PREDICTOR_FORMAT, LatencyPredictor, PredictorError, PredictorLatency,
                        train_predictor, validate_predictor_json)
from .roofline import RooflineBreakdown, RooflineLatency, fits_device, roofline_layer_ms, roofline_ms

__all__ = ["LatencyEstimate", "LatencyEstimator", "SOURCES", "latency_for", "SEARCH_SOURCES", "PURPOSES",
           "SEARCH_LUT_PROTOCOL", "attached_table", "attached_predictor", "cached_table_path", "LookupTableLatency",
           "MeasuredLatency", "default_device", "LatencyPredictor", "PredictorLatency", "PredictorError",
           "train_predictor", "validate_predictor_json", "PREDICTOR_FORMAT", "MAX_PREDICTOR_BYTES",
           "RooflineLatency", "RooflineBreakdown", "roofline_ms", "roofline_layer_ms", "fits_device"]
