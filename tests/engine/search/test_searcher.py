"""The Searcher contract: declared directions, JSON checkpoints that resume
identically, one front rule, and the equal-evaluations harness."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.search import (EvolutionSearch, EvolutionSettings, NSGA2Search, RandomSearch, compare_with_random,
                           comparison, front_indices, run_search)
from engine.spaces.mbconv import MBConvSpace

SPACE = MBConvSpace(widths=(8, 16), strides=(1, 2), resolutions=(12, 16), stem_width=8, stem_stride=2, head_width=16)


def cost(archs):
    return np.array([sum(a["depths"]) + sum(a["kernels"]) / 10 for a in archs], float)


def score(archs):
    return np.array([sum(np.sqrt(a["expands"])) + a["resolution"] / 4 for a in archs], float)


def objs(archs):
    return [{"cost": c, "score": s} for c, s in zip(cost(archs), score(archs))]


MAKERS = {
    "evolution": lambda rng: EvolutionSearch(SPACE, rng=rng, directions={"score": "max"},
                                             feasible=lambda a: cost(a) <= 8.0,
                                             settings=EvolutionSettings(12, 0.25, 0.5, 0.2, 6)),
    "nsga2": lambda rng: NSGA2Search(SPACE, rng=rng, directions={"cost": "min", "score": "max"}, population_size=10),
    "random": lambda rng: RandomSearch(SPACE, rng=rng, directions={"cost": "min", "score": "max"}, batch_size=10),
}


def _tell(search, archs):
    search.tell(archs, objs(archs) if len(search.directions) > 1 else score(archs))


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_state_dict_resumes_identically(kind):
    full = MAKERS[kind](np.random.default_rng(0))
    for _ in range(6):
        _tell(full, full.ask())
    half = MAKERS[kind](np.random.default_rng(0))
    for _ in range(3):
        _tell(half, half.ask())
    pending = half.ask()
    state = json.loads(json.dumps(half.state_dict(), allow_nan=False))  # plain JSON, between ask and tell
    resumed = MAKERS[kind](np.random.default_rng(123))
    resumed.load_state_dict(state)
    with pytest.raises(RuntimeError):
        resumed.ask()  # the pending batch must be told first
    _tell(resumed, pending)
    for _ in range(2):
        _tell(resumed, resumed.ask())
    assert resumed.evaluations == full.evaluations
    assert resumed.state_dict() == json.loads(json.dumps(full.state_dict()))


def test_state_of_another_searcher_is_refused():
    evo = MAKERS["evolution"](np.random.default_rng(0))
    with pytest.raises(ValueError):
        MAKERS["nsga2"](np.random.default_rng(0)).load_state_dict(evo.state_dict())


def test_directions_are_declared_once_and_values_told_as_they_are():
    nsga = MAKERS["nsga2"](np.random.default_rng(1))
    for _ in range(4):
        archs = nsga.ask()
        nsga.tell(archs, np.stack([cost(archs), score(archs)], 1))  # an array in the order of the directions
    archs, values = nsga.front()
    assert values.shape[1] == 2 and len(archs) == len(values)
    pts = [{"cost": c, "score": s} for c, s in values]
    assert front_indices(pts, nsga.directions) == list(range(len(pts)))  # nothing on the front is dominated
    with pytest.raises(RuntimeError):
        nsga.tell(archs, np.zeros((len(archs), 2)))  # not asked
    a = nsga.ask()
    with pytest.raises(ValueError):
        nsga.tell(a, np.zeros((len(a), 3)))  # not one value per objective
    with pytest.raises(ValueError):
        EvolutionSearch(SPACE, rng=np.random.default_rng(0), directions={"a": "max", "b": "min"})
    with pytest.raises(ValueError):
        RandomSearch(SPACE, rng=np.random.default_rng(0), directions={"a": "up"})


def test_evolution_minimising_reports_the_lowest_value():
    evo = EvolutionSearch(SPACE, rng=np.random.default_rng(2), directions={"cost": "min"},
                          settings=EvolutionSettings(12, 0.25, 0.5, 0.2, 5))
    seen = []
    for _ in range(5):
        a = evo.ask()
        seen.extend(cost(a))
        evo.tell(a, cost(a))
    assert evo.best_fitness == min(seen) and evo.best()[1] == min(seen)
    assert all(b <= a for a, b in zip(evo.history, evo.history[1:]))


def test_front_indices_tie_rule_and_missing_values():
    pts = [{"lat": 2.0, "acc": 0.9}, {"lat": 1.0, "acc": 0.8}, {"lat": 2.0, "acc": 0.9},  # 2 repeats 0
           {"lat": 3.0, "acc": 0.85}, {"lat": None, "acc": 0.99}, {"acc": 1.0}, {"lat": 0.5, "acc": float("nan")},
           {"lat": 1.0, "acc": 0.8, "other": 1}, {"lat": 0.9, "acc": True}]
    assert front_indices(pts, {"lat": "min", "acc": "max"}) == [0, 1]
    assert front_indices(pts, {"acc": "max"}) == [5]  # only acc is needed here
    three = [{"a": 1, "b": 1, "c": 3}, {"a": 1, "b": 2, "c": 1}, {"a": 2, "b": 2, "c": 3}, {"a": 1, "b": 1, "c": 3}]
    assert front_indices(three, {"a": "min", "b": "min", "c": "min"}) == [0, 1]
    assert front_indices([], {"a": "min"}) == [] and front_indices(three, {}) == []


def test_harness_runs_both_at_equal_evaluations():
    scorers = {"score": score, "cost": cost}
    feasible = lambda a: cost(a) <= 8.0  # noqa: E731
    evo = EvolutionSearch(SPACE, rng=np.random.default_rng(0), directions={"score": "max"}, feasible=feasible,
                          settings=EvolutionSettings(20, 0.25, 0.5, 0.2, 8))
    rand = RandomSearch(SPACE, rng=np.random.default_rng(1), directions={"score": "max"}, feasible=feasible)
    seen = []
    er, rr = compare_with_random(evo, rand, scorers, fitness="score", cost="cost", generations=8, ref=(20.0, 0.0),
                                 on_generation=lambda g, a, b: seen.append((g, a.evaluations[-1], b.evaluations[-1])))
    assert er.evaluations == rr.evaluations and [s[1] for s in seen] == [s[2] for s in seen] == er.evaluations
    assert len(er.hypervolume) == len(rr.hypervolume) == 8 and er.hypervolume[-1] > 0
    assert er.best_fitness[-1] == pytest.approx(evo.best_fitness) and max(er.cost) <= 8.0
    c = comparison(er, rr)
    assert c["gap"] == pytest.approx(c["search_best"] - c["random_best"]) and c["hypervolume_ratio"] > 0
    one = run_search(RandomSearch(SPACE, rng=np.random.default_rng(1), directions={"score": "max"}, batch_size=5),
                     scorers, fitness="score", cost="cost", generations=10, stop=lambda run: len(run.archs) >= 15)
    assert len(one.archs) == 15
    with pytest.raises(ValueError):
        run_search(evo, {"score": score}, fitness="score", cost="cost", generations=1)
