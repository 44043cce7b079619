"""HAQ's cross-hardware claim, judged at matched accuracy."""
from engine.haq.technique import _cross_hardware


class Price:
    """Latency of a policy on one profile: a weighted sum of its bits."""

    def __init__(self, weights):
        self.weights = weights

    def price(self, policy):
        return float(sum(w * (b + a) for w, (b, a) in zip(self.weights, policy)))


def _best(policy, acc):
    return (0.1 * acc, policy, {"accuracy": acc})


def test_a_lower_bit_policy_is_not_a_win_unless_it_is_as_accurate():
    # profile A charges layer 0, profile B layer 1; each search cut bits where its own profile charges
    timing = {"A": Price([3.0, 1.0]), "B": Price([1.0, 3.0])}
    own_a, own_b = [(4, 4), (8, 8)], [(8, 8), (4, 4)]
    cheap = [(2, 2), (2, 2)]  # faster everywhere, but far less accurate
    best = {"agent": _best(own_a, 0.80), "agent for B": _best(own_b, 0.80)}
    tried = {"agent": [(own_a, 0.80), (cheap, 0.30)], "agent for B": [(own_b, 0.80), (cheap, 0.30)]}
    out = _cross_hardware("A", "B", best, tried, timing, tolerance=0.01)
    assert out["own_policy_fastest"] is True
    assert out["A: policy for A (ms)"] < out["A: policy for B (ms)"]
    assert out["A: fastest policy for B at matched accuracy (ms)"] == timing["A"].price(own_b)
    # the same cheap policy reaching the accuracy would beat the own one: then the claim fails, and says so
    tried["agent for B"].append((cheap, 0.80))
    out = _cross_hardware("A", "B", best, tried, timing, tolerance=0.01)
    assert out["own_policy_fastest"] is False
    assert out["A: fastest policy for B at matched accuracy (ms)"] == timing["A"].price(cheap)
