"""Searches built from injected parts: evolution under a constraint, NSGA-II
fronts, random search, hypervolume and the accuracy predictor.

Every search takes its sampler / mutator / crossover, constraint and a seeded
``numpy.random.Generator`` from the caller and exposes ``ask()``/``tell()``.
"""
from ..pareto import front_2d, hypervolume_2d
from ._types import Arch, arch_key
from .evolution import HAT_SETTINGS, OFA_SETTINGS, ConstraintError, EvolutionSearch, EvolutionSettings
from .nsga2 import NSGA2Search, select_survivors
from .predictor import AccuracyPredictor, PredictorReport
from .random_search import RandomSearch
from .sorting import crowding_distance, dominates, non_dominated_sort, pareto_ranks

__all__ = ["Arch", "arch_key", "EvolutionSearch", "EvolutionSettings", "OFA_SETTINGS", "HAT_SETTINGS",
           "ConstraintError", "NSGA2Search", "select_survivors", "RandomSearch", "AccuracyPredictor",
           "PredictorReport", "non_dominated_sort", "pareto_ranks", "crowding_distance",
           "dominates", "front_2d", "hypervolume_2d"]
