"""Hardware profiles, the cost model and latency sources.

    from engine.hardware import get_profile, estimator_for, latency_of_model, validate_lut_json
"""
from .cost import LayerCost, ModelCost, profile_model
from .latency import (DEFAULT_ORDER, SOURCES, LatencyEstimate, LatencyEstimator, available_sources, estimator_for,
                      latency_of_model)
from .latency_lut import LookupTable, LookupTableLatency, LutMissError, build_lut, import_ofa_yaml
from .latency_measured import MeasuredLatency
from .latency.predictor import (LatencyPredictor, PredictorError, PredictorLatency, train_predictor,
                                validate_predictor_json)
from .latency_roofline import RooflineLatency
from .lut_schema import LutError, validate_lut_json
from .measure import Measurement, measure_latency, measure_many
from .profile import HardwareProfile, ProfileError, builtin_profiles, get_profile, local_cpu_profile

__all__ = ["HardwareProfile", "ProfileError", "builtin_profiles", "get_profile", "local_cpu_profile",
           "LayerCost", "ModelCost", "profile_model", "Measurement", "measure_latency", "measure_many",
           "LatencyEstimate", "LatencyEstimator", "SOURCES", "DEFAULT_ORDER", "available_sources", "estimator_for",
           "latency_of_model", "MeasuredLatency", "RooflineLatency", "LookupTable", "LookupTableLatency",
           "LutMissError", "build_lut", "import_ofa_yaml", "LutError", "validate_lut_json", "LatencyPredictor",
           "PredictorLatency", "PredictorError", "train_predictor", "validate_predictor_json"]
