"""HAQ's cross-hardware claim, judged at matched accuracy on the test split."""
from engine.haq.technique import _cross_hardware


class Price:
    """Latency of a policy on one profile: a weighted sum of its bits."""

    def __init__(self, weights):
        self.weights = weights

    def price(self, policy):
        return float(sum(w * (b + a) for w, (b, a) in zip(self.weights, policy)))


def _best(policy, acc):
    return (0.1 * acc, policy, {"accuracy": acc})


# profile A charges layer 0, profile B layer 1; each search cut bits where its own profile charges
TIMING = {"A": Price([3.0, 1.0]), "B": Price([1.0, 3.0])}
OWN_A, OWN_B = [(4, 4), (8, 8)], [(8, 8), (4, 4)]
CHEAP = [(2, 2), (2, 2)]  # faster everywhere


def _run(tried_cheap_score, cheap_test):
    """The cross-hardware table when B's search tried CHEAP with this episode
    score and CHEAP reaches ``cheap_test`` on the test split; the own policies
    score 0.80 on both."""
    test = {tuple(OWN_A): 0.80, tuple(OWN_B): 0.80, tuple(CHEAP): cheap_test}
    asked = []

    def confirm(pol, label):
        asked.append(label)
        return test[tuple(pol)]

    best = {"agent": _best(OWN_A, 0.80), "agent for B": _best(OWN_B, 0.80)}
    tried = {"agent": [(OWN_A, 0.80)], "agent for B": [(OWN_B, 0.80), (CHEAP, tried_cheap_score)]}
    out = _cross_hardware("A", "B", best, tried, TIMING, confirm, tolerance=0.01)
    return out, {r["profile"]: r for r in out["cross_hardware"]}, asked


def test_each_profile_is_priced_with_both_policies_and_a_far_less_accurate_rival_is_not_screened():
    out, rows, asked = _run(tried_cheap_score=0.30, cheap_test=0.30)
    assert out["own_policy_fastest"] is True
    assert rows["A"]["own_ms"] == TIMING["A"].price(OWN_A) < rows["A"]["other_ms"] == TIMING["A"].price(OWN_B)
    assert rows["B"]["own_ms"] < rows["B"]["other_ms"]
    assert rows["A"]["rival_ms"] is None and rows["A"]["other_acc"] == 0.80
    assert out["A: policy for B (ms)"] == rows["A"]["other_ms"]
    assert not any("screened" in a for a in asked)  # nothing screened, nothing extra fine-tuned


def test_a_faster_rival_confirmed_as_accurate_on_the_test_split_beats_the_own_policy():
    out, rows, _ = _run(tried_cheap_score=0.80, cheap_test=0.795)
    assert out["own_policy_fastest"] is False
    assert rows["A"]["own_fastest"] is False and rows["A"]["beaten_by"] == ["rival"]
    assert rows["A"]["rival_ms"] == TIMING["A"].price(CHEAP) and rows["A"]["rival_acc"] == 0.795
    assert rows["B"]["own_fastest"] is True  # A's search never tried CHEAP


def test_a_rival_the_noisy_episode_score_matched_but_the_test_split_did_not_is_no_win_and_is_reported():
    out, rows, asked = _run(tried_cheap_score=0.805, cheap_test=0.60)
    assert out["own_policy_fastest"] is True
    assert rows["A"]["screen_disagrees"] is True and rows["A"]["rival_acc"] == 0.60
    assert any("screened as matched on A" in a for a in asked)


def test_the_other_profiles_own_policy_wins_when_it_is_faster_and_as_accurate():
    # B's searched policy is cheaper on A than A's own and as accurate: the claim fails on A
    best = {"agent": _best(OWN_A, 0.80), "agent for B": _best(CHEAP, 0.80)}
    tried = {"agent": [(OWN_A, 0.80)], "agent for B": [(CHEAP, 0.80)]}
    test = {tuple(OWN_A): 0.80, tuple(CHEAP): 0.80}
    out = _cross_hardware("A", "B", best, tried, TIMING, lambda p, _l: test[tuple(p)], tolerance=0.01)
    rows = {r["profile"]: r for r in out["cross_hardware"]}
    assert rows["A"]["beaten_by"] == ["other"] and out["own_policy_fastest"] is False


def _at_budget(test, limit):
    """B's searched policy CHEAP against A's own, judged at each profile's budget
    (a policy meets it when its price there is at most ``limit``)."""
    best = {"agent": _best(OWN_A, 0.80), "agent for B": _best(CHEAP, 0.80)}
    tried = {"agent": [(OWN_A, 0.80)], "agent for B": [(CHEAP, 0.80)]}
    out = _cross_hardware("A", "B", best, tried, TIMING, lambda p, _l: test[tuple(p)], tolerance=0.01,
                          within=lambda n, p: TIMING[n].price(p) <= limit[n])
    return out, {r["profile"]: r for r in out["cross_hardware"]}


def test_at_the_same_budget_a_cheaper_but_less_accurate_rival_does_not_beat_the_own_policy():
    # CHEAP is faster on A and within the 1-point tolerance, so the matched-accuracy verdict fails on A;
    # at A's budget it is a baseline that tests less accurate, so the own policy is the best there
    # (B's budget is what its own policy costs there: A's policy, more accurate, breaks it)
    out, rows = _at_budget({tuple(OWN_A): 0.80, tuple(CHEAP): 0.795}, {"A": 100.0, "B": TIMING["B"].price(CHEAP)})
    assert rows["B"]["other_within_budget"] is False
    assert rows["A"]["own_fastest"] is False and rows["A"]["other_within_budget"] is True
    assert rows["A"]["own_best_at_budget"] is True and out["own_policy_best_at_budget"] is True
    assert out["own_policy_fastest"] is False


def test_at_the_same_budget_a_rival_that_meets_it_and_tests_more_accurate_wins():
    out, rows = _at_budget({tuple(OWN_A): 0.80, tuple(CHEAP): 0.81}, {"A": 100.0, "B": 100.0})
    assert rows["A"]["beaten_at_budget_by"] == ["other"] and out["own_policy_best_at_budget"] is False


def test_a_rival_over_the_profiles_budget_is_out_however_accurate():
    own_b = TIMING["B"].price(CHEAP)
    # A's own policy breaks B's budget: on B it cannot beat B's own, even at a higher test accuracy
    out, rows = _at_budget({tuple(OWN_A): 0.90, tuple(CHEAP): 0.80}, {"A": 100.0, "B": own_b})
    assert rows["B"]["other_within_budget"] is False and rows["B"]["own_best_at_budget"] is True
    assert rows["B"]["rival_within_budget"] is None  # A's search tried nothing faster on B


def test_without_a_budget_check_there_is_no_at_budget_verdict():
    out, rows, _ = _run(tried_cheap_score=0.30, cheap_test=0.30)
    assert "own_policy_best_at_budget" not in out and "own_best_at_budget" not in rows["A"]


def test_both_searches_choosing_one_policy_is_a_tie_not_a_win():
    best = {"agent": _best(OWN_A, 0.80), "agent for B": _best(OWN_A, 0.80)}
    tried = {"agent": [(OWN_A, 0.80)], "agent for B": [(OWN_A, 0.80)]}
    out = _cross_hardware("A", "B", best, tried, TIMING, lambda p, _l: 0.80, tolerance=0.01)
    assert out["cross_same_policy"] is True and all(r["same_policy"] for r in out["cross_hardware"])
    out, rows, _ = _run(tried_cheap_score=0.30, cheap_test=0.30)
    assert out["cross_same_policy"] is False and not rows["A"]["same_policy"]
