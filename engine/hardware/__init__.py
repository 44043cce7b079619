"""Hardware profiles, the cost model, measurement, lookup tables and latency sources.

    from engine.hardware import get_profile, latency_for, profile_model, validate_lut_json
    est = latency_for(get_profile("raspberry-pi-4"), space=space, problem=problem)
"""
from .cost import LayerCost, ModelCost, profile_model
from .latency import (SEARCH_SOURCES, SOURCES, LatencyEstimate, LatencyEstimator, LatencyPredictor,
                      LookupTableLatency, MeasuredLatency, PredictorError, PredictorLatency, RooflineLatency,
                      latency_for, train_predictor, validate_predictor_json)
from .lut import (LookupTable, LutEntry, LutError, LutMissError, build_lut, import_ofa_yaml, key_with_bits, load_lut,
                  validate_lut_json)
from .measure import Measurement, measure_latency, measure_many
from .profile import HardwareProfile, ProfileError, builtin_profiles, get_profile, local_cpu_profile

__all__ = ["HardwareProfile", "ProfileError", "builtin_profiles", "get_profile", "local_cpu_profile",
           "LayerCost", "ModelCost", "profile_model", "Measurement", "measure_latency", "measure_many",
           "LatencyEstimate", "LatencyEstimator", "SOURCES", "SEARCH_SOURCES", "latency_for", "MeasuredLatency",
           "RooflineLatency", "LookupTable", "LutEntry", "LookupTableLatency", "LutMissError", "build_lut",
           "import_ofa_yaml", "key_with_bits", "load_lut", "LutError", "validate_lut_json", "LatencyPredictor",
           "PredictorLatency", "PredictorError", "train_predictor", "validate_predictor_json"]
