"""Searches on a toy space: ten integer genes in 0..4."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.search import (EvolutionSearch, EvolutionSettings, NSGA2Search, RandomSearch, crowding_distance,
                           dominates, hypervolume_2d, non_dominated_sort)

G = 10


def sample(rng):
    return {"genes": [int(v) for v in rng.integers(0, 5, size=G)]}


def mutate(arch, rng, prob):
    genes = list(arch["genes"])
    for i in range(G):
        if rng.random() < prob:
            genes[i] = int(rng.integers(0, 5))
    return {"genes": genes}


def crossover(a, b, rng):
    return {"genes": [x if rng.random() < 0.5 else y for x, y in zip(a["genes"], b["genes"])]}


class Toy:
    """The toy space's operators (no vectorised forms: searches fall back to these)."""
    sample = staticmethod(sample)
    mutate = staticmethod(mutate)
    crossover = staticmethod(crossover)


TOY = Toy()
MIN2 = {"cost": "min", "neg_score": "min"}


def cost(archs):
    return np.array([sum(a["genes"]) for a in archs], dtype=float)


def score(archs):  # higher with larger genes at even positions, diminishing
    return np.array([sum(np.sqrt(a["genes"][::2])) + 0.1 * sum(a["genes"][1::2]) for a in archs])


def brute_dominated(f):
    n = len(f)
    return [any(dominates(f[j], f[i]) for j in range(n) if j != i) for i in range(n)]


@pytest.mark.parametrize("m", [2, 3])
def test_non_dominated_sort_fronts(m):
    rng = np.random.default_rng(1)
    f = rng.integers(0, 6, size=(200, m)).astype(float)  # ties and duplicates included
    fronts = non_dominated_sort(f)
    assert sorted(np.concatenate(fronts).tolist()) == list(range(200))
    # each front is non-dominated within itself, and every point of front r+1
    # is dominated by some point of front r
    for r, front in enumerate(fronts):
        assert not any(brute_dominated(f[front]))
        if r:
            prev = f[fronts[r - 1]]
            assert all(any(dominates(p, f[i]) for p in prev) for i in front)


def test_two_objective_sort_matches_general():
    from engine.search.pareto import _sort_general
    rng = np.random.default_rng(2)
    f = rng.normal(size=(150, 2)).round(1)
    a = [sorted(x.tolist()) for x in non_dominated_sort(f)]
    b = [sorted(x.tolist()) for x in _sort_general(f)]
    assert a == b


def test_crowding_boundaries_infinite():
    f = np.array([[0, 3], [1, 2], [2, 1], [3, 0]], float)
    d = crowding_distance(f)
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx(2 / 3 + 2 / 3)


def test_hypervolume_known_values():
    # minimise both: unit squares staircase
    pts = [(1, 3), (2, 2), (3, 1)]
    assert hypervolume_2d(pts, (4, 4), ("min", "min")) == pytest.approx(3 + 2 + 1)
    # a dominated point adds nothing; one point is a rectangle
    assert hypervolume_2d(pts + [(3, 3)], (4, 4), ("min", "min")) == pytest.approx(6)
    assert hypervolume_2d([(1, 0.9)], (3, 0.5), ("min", "max")) == pytest.approx(2 * 0.4)


def test_evolution_respects_constraint_and_improves():
    rng = np.random.default_rng(0)
    budget = 15.0
    feasible = lambda archs: cost(archs) <= budget  # noqa: E731
    search = EvolutionSearch(TOY, rng=rng, feasible=feasible, settings=EvolutionSettings(40, 0.25, 0.5, 0.2, 20))
    first = None
    for _ in range(20):
        archs = search.ask()
        assert np.all(cost(archs) <= budget)
        fit = score(archs)
        first = fit.max() if first is None else first
        search.tell(archs, fit)
    assert cost([search.best_arch])[0] <= budget
    assert search.best_fitness > first
    assert all(b >= a for a, b in zip(search.history, search.history[1:]))
    # exhaustive optimum of a small relaxation is an upper bound
    assert search.best_fitness <= np.sqrt(4) * 5 + 0.1 * 20


def test_evolution_is_seeded():
    def run(seed):
        s = EvolutionSearch(TOY, rng=np.random.default_rng(seed), settings=EvolutionSettings(20, 0.25, 0.5, 0.1, 5))
        for _ in range(5):
            a = s.ask()
            s.tell(a, score(a))
        return s.best_arch
    assert run(3) == run(3)


def test_nsga2_front_beats_random_hypervolume():
    objs = lambda archs: np.stack([cost(archs), -score(archs)], 1)  # noqa: E731
    nsga = NSGA2Search(TOY, rng=np.random.default_rng(0), directions=MIN2, population_size=40, mutate_prob=0.2)
    rand = RandomSearch(TOY, rng=np.random.default_rng(0), directions=MIN2, batch_size=40)
    for _ in range(15):
        a = nsga.ask()
        nsga.tell(a, objs(a))
        b = rand.ask()
        rand.tell(b, objs(b))
    assert nsga.evaluations == rand.evaluations
    archs, f = nsga.front()
    assert not any(brute_dominated(f))
    ref = (41.0, 0.0)
    hv = lambda f: hypervolume_2d([(x, -y) for x, y in f], ref, ("min", "max"))  # noqa: E731
    rf = np.asarray(rand.values)
    assert hv(f) > hv(rf[non_dominated_sort(rf)[0]])


def test_ask_tell_order_enforced():
    s = EvolutionSearch(TOY, rng=np.random.default_rng(0), settings=EvolutionSettings(8, 0.25, 0.5, 0.1, 1))
    with pytest.raises(RuntimeError):
        s.tell([], [])
    a = s.ask()
    with pytest.raises(RuntimeError):
        s.ask()
    s.tell(a, score(a))


def test_infeasible_constraint_raises():
    from engine.search import ConstraintError
    s = EvolutionSearch(TOY, rng=np.random.default_rng(0), feasible=lambda archs: np.zeros(len(archs), bool),
                        max_rounds=3)
    with pytest.raises(ConstraintError):
        s.ask()
