"""The ``Agent`` base: a search that decides step by step inside an episode
(AMC: one pruning ratio per layer; HAQ: one bit width per layer) and learns
from a reward that comes at the end of the episode.

It is not a :class:`~engine.search.base.Searcher`: a searcher proposes whole
architectures and is told their objectives, while an agent is asked for one
action per state, and the episode's transitions share one final reward::

    for episode in range(episodes):
        transitions, state = [], env.reset()
        for t in range(env.layers):
            action = agent.act(state, episode)
            next_state, done = env.step(action)
            transitions.append(Transition(state, action, next_state, done))
            state = next_state
        agent.observe(transitions, env.reward())
        agent.update()
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Agent", "Transition"]


@dataclass(frozen=True)
class Transition:
    """One step of an episode: the state, the action taken, the state it led to,
    and whether the episode ended there."""

    state: np.ndarray
    action: np.ndarray
    next_state: np.ndarray
    done: bool


class Agent(ABC):
    """Acts on states within action bounds and learns from end-of-episode rewards."""

    @abstractmethod
    def act(self, state: np.ndarray, episode: int, *, explore: bool = True) -> np.ndarray:
        """The action for ``state`` in ``episode`` (exploring unless ``explore`` is False)."""

    @abstractmethod
    def observe(self, transitions: Sequence[Transition], reward: float) -> None:
        """Store one episode's transitions with its final reward."""

    @abstractmethod
    def update(self) -> dict[str, float]:
        """Learn from what was observed; returns the losses (empty during warm-up)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]: ...

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...
