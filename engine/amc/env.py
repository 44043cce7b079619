"""AMC's channel-pruning environment: one step per prunable layer group.

As in the reference (mit-han-lab/amc ``env/channel_pruning_env.py``): the state
of step t is a 10-feature embedding of the group (index, type, input and
output channels, stride, kernel, weight size, the resource already removed,
the resource of the groups still to come, the previous action), the static
features min-max normalised over the groups; the action is the fraction of
channels kept, in ``[lbound, rbound]``; the *action wall* lowers an action so
that the budget stays reachable if every later group were cut to ``lbound``.

The wall prices a policy with :meth:`PruningPlan.cost` (MACs or weights,
exact for the conv and linear layers). For a latency budget it uses the MACs
as the proxy (the layer-by-layer split of latency is unknown before a network
is built); the episode's network is then priced by the latency layer, and an
episode over its budget earns no reward.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..search.agents import Transition
from .pruning import PruningError, PruningPlan

__all__ = ["RESOURCES", "PruningEnv", "STATE_DIM", "describe_policy"]

RESOURCES = ("flops", "params", "latency")
STATE_DIM = 10
_KIND = {"conv": 1.0, "depthwise": 0.0, "linear": 0.5}


@dataclass
class PruningEnv:
    plan: PruningPlan
    #: the kept fraction of the original network's resource the policy must meet
    budget: float
    resource: str = "flops"
    lbound: float = 0.2
    rbound: float = 1.0
    _static: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.resource not in RESOURCES:
            raise PruningError(f"resource must be one of {', '.join(RESOURCES)}")
        if not 0.0 < self.lbound < self.rbound <= 1.0:
            raise PruningError("bounds: 0 < lbound < rbound <= 1")
        g = self.plan.groups
        feats = np.array([[x.index, _KIND[x.kind], x.in_channels, x.channels, x.stride, x.kernel, x.weight_size]
                          for x in g], dtype=np.float64)
        lo, hi = feats.min(0), feats.max(0)
        self._static = (feats - lo) / np.where(hi > lo, hi - lo, 1.0)
        floor = self.fraction([self.lbound] * len(g))
        if floor > self.budget + 1e-9:
            raise PruningError(f"the budget of {self.budget:.0%} of the original {self.key} cannot be met: keeping "
                               f"{self.lbound:.0%} of every layer's channels still needs {floor:.1%}")

    @property
    def key(self) -> str:
        """The plan's resource the wall counts (latency: MACs as its proxy)."""
        return "params" if self.resource == "params" else "macs"

    @property
    def total(self) -> float:
        return float(self.plan.total_params if self.key == "params" else self.plan.total_macs)

    def fraction(self, ratios: Sequence[float], *, rounded: bool = True) -> float:
        return self.plan.cost(ratios, rounded=rounded)[self.key] / self.total

    def state(self, t: int, ratios: Sequence[float], prev: float) -> np.ndarray:
        n = len(self.plan.groups)
        decided = list(ratios[:t]) + [1.0] * (n - t)
        reduced = 1.0 - self.fraction(decided, rounded=False)
        rest_ratios = [0.0] * (t + 1) + [1.0] * (n - t - 1)
        base = self.plan.cost([0.0] * n, rounded=False)[self.key]
        rest = (self.plan.cost(rest_ratios, rounded=False)[self.key] - base) / self.total
        return np.concatenate([self._static[t], [reduced, rest, prev]]).astype(np.float32)

    def wall(self, t: int, ratios: Sequence[float], action: float) -> float:
        """``action`` for group t lowered (never below ``lbound``) so that the
        budget holds even with every later group at ``lbound``."""
        n = len(self.plan.groups)
        trial = list(ratios[:t]) + [0.0] + [self.lbound] * (n - t - 1)
        a, b = self.plan.linear_in(t, trial, self.key)
        limit = (self.budget * self.total - a) / b if b > 0 else self.rbound
        return float(np.clip(min(action, limit), self.lbound, self.rbound))

    def fix_rounding(self, ratios: list[float]) -> list[float]:
        """Channel counts rounded up can overshoot the budget by a hair: take a
        rounding step off the group that saves most until it holds."""
        r = list(ratios)
        for _ in range(10 * len(r)):
            if self.fraction(r) <= self.budget + 1e-9:
                break
            best, gain = None, 0.0
            for i, g in enumerate(self.plan.groups):
                k = self.plan.keep(g, r[i])
                step = self.plan.round_to if g.channels >= 2 * self.plan.round_to else 1
                if k - step < max(1, self.lbound * g.channels - 1e-9):
                    continue
                trial = list(r)
                trial[i] = (k - step) / g.channels
                d = self.fraction(r) - self.fraction(trial)
                if d > gain:
                    best, gain = (i, trial[i]), d
            if best is None:
                break
            r[best[0]] = best[1]
        return r

    def episode(self, act: Callable[[np.ndarray, int], float]) -> tuple[list[float], list[Transition]]:
        """One pass over the groups: ``act(state, t)`` proposes, the wall limits.
        Returns the kept ratios (rounded, within the budget) and the transitions."""
        n = len(self.plan.groups)
        ratios: list[float] = []
        states, actions = [], []
        prev = 1.0
        for t in range(n):
            s = self.state(t, ratios, prev)
            a = self.wall(t, ratios, float(act(s, t)))
            states.append(s)
            actions.append(a)
            ratios.append(a)
            prev = a
        transitions = [Transition(states[t], np.array([actions[t]], np.float32),
                                  states[t + 1] if t + 1 < n else np.zeros(STATE_DIM, np.float32), t + 1 == n)
                       for t in range(n)]
        return self.fix_rounding(self.plan.effective(ratios)), transitions

    def uniform(self) -> list[float]:
        """The same kept fraction in every group, as large as the budget allows (bisection)."""
        lo, hi = self.lbound, self.rbound
        if self.fraction([hi] * len(self.plan.groups)) <= self.budget:
            return self.plan.effective([hi] * len(self.plan.groups))
        for _ in range(40):
            mid = (lo + hi) / 2
            if self.fraction([mid] * len(self.plan.groups)) <= self.budget:
                lo = mid
            else:
                hi = mid
        return self.fix_rounding(self.plan.effective([lo] * len(self.plan.groups)))

    def global_magnitude(self, scores: Sequence[np.ndarray]) -> list[float]:
        """Global magnitude pruning: one threshold on every channel's score
        (each group's L1 norms divided by their mean, so layers compare), as
        high as the budget allows; a group keeps at least ``lbound``."""
        norm = [np.asarray(s, np.float64) / max(float(np.mean(s)), 1e-12) for s in scores]

        def ratios_at(tau: float) -> list[float]:
            return [max(self.lbound, float((s >= tau).sum()) / len(s)) for s in norm]

        lo, hi = 0.0, max(float(s.max()) for s in norm) + 1.0
        for _ in range(50):
            mid = (lo + hi) / 2
            if self.fraction(ratios_at(mid)) <= self.budget:
                hi = mid
            else:
                lo = mid
        return self.fix_rounding(self.plan.effective(ratios_at(hi)))


def describe_policy(ratios: Sequence[float]) -> str:
    return " ".join(f"{r:.2f}" for r in ratios)

