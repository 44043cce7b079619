"""Latency sources behind one interface (being restructured)."""
from .base import (DEFAULT_ORDER, SOURCES, LatencyEstimate, LatencyEstimator, available_sources, estimator_for,
                   latency_of_model)

__all__ = ["LatencyEstimate", "LatencyEstimator", "SOURCES", "DEFAULT_ORDER", "available_sources", "estimator_for",
           "latency_of_model"]
