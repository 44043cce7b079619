"""The one search layer: a ``Searcher`` base (ask / tell with declared
directions / state_dict) implemented by evolution under a constraint, NSGA-II
fronts and random search; the DDPG agent AMC and HAQ share
(:mod:`engine.search.agents`); the one Pareto module; the "search beside
random search at equal evaluations" harness; the accuracy predictor.

Every search takes a space (its operators), a seeded
``numpy.random.Generator`` and its constraint from the caller.
"""
from ._types import Arch, Feasible, Operators, arch_key
from .base import ConstraintError, Objectives, Searcher
from .compare import OnGeneration, Scorer, SearchRun, compare_with_random, comparison, run_search
from .evolution import HAT_SETTINGS, OFA_SETTINGS, EvolutionSearch, EvolutionSettings
from .nsga2 import NSGA2Search, select_survivors
from .pareto import (crowding_distance, dominates, front_2d, front_indices, front_of_values, hypervolume_2d,
                     non_dominated_sort, pareto_ranks)
from .predictor import AccuracyPredictor, PredictorReport
from .random_search import RandomSearch

__all__ = ["Arch", "Feasible", "Operators", "arch_key", "Searcher", "Objectives", "ConstraintError",
           "EvolutionSearch", "EvolutionSettings", "OFA_SETTINGS", "HAT_SETTINGS", "NSGA2Search",
           "select_survivors", "RandomSearch", "Scorer", "SearchRun", "OnGeneration", "run_search",
           "compare_with_random", "comparison", "AccuracyPredictor", "PredictorReport",
           "non_dominated_sort", "pareto_ranks", "crowding_distance", "dominates", "front_indices", "front_of_values",
           "front_2d", "hypervolume_2d"]
