"""DDPG (Lillicrap et al., 2016) as AMC (He et al., 2018) and HAQ (Wang et al.,
2019) use it: one action per layer, one reward per episode.

- actor and critic MLPs, each with a target copy soft-updated by ``tau``;
- a replay buffer of transitions, each stored with its episode's final reward;
- warm-up episodes with uniform random actions, then the actor's action with
  truncated-normal exploration noise (kept inside the action bounds) whose
  sigma decays per episode: ``sigma * sigma_decay ** (episode - warmup)``;
- a moving-average reward baseline: the critic's target is
  ``(reward - baseline) + discount * Q'(s', mu'(s'))`` (the baseline follows
  each sampled batch's mean reward with ``baseline_alpha``), as the AMC/HAQ
  reference code does;
- action bounds given by the caller, per action dimension.

Hand-written in torch: stable-baselines3 is not a dependency, and its
environment/episode loop (a reward per ``env.step``) does not fit episodes of
one decision per layer with the reward known only at the end.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .base import Agent, Transition

__all__ = ["DDPGSettings", "DDPGAgent", "ReplayBuffer", "mlp"]


@dataclass(frozen=True)
class DDPGSettings:
    """AMC's defaults (hidden 300, actor lr 1e-4, critic lr 1e-3, tau 0.01,
    discount 1, batch 64, warm-up 100 episodes, sigma 0.5 decaying by 0.95,
    baseline alpha 0.5)."""

    hidden: int = 300
    actor_lr: float = 1e-4
    critic_lr: float = 1e-3
    tau: float = 0.01
    discount: float = 1.0
    buffer_size: int = 2000
    batch_size: int = 64
    warmup: int = 100
    sigma: float = 0.5
    sigma_decay: float = 0.95
    baseline_alpha: float = 0.5
    #: gradient steps per ``update()`` (AMC: one per step of the episode; 0 = that)
    updates_per_episode: int = 0


def mlp(n_in: int, n_out: int, hidden: int, out: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                               nn.Linear(hidden, n_out)]
    return nn.Sequential(*layers, *([out] if out is not None else []))


class ReplayBuffer:
    """A ring buffer of (state, action, reward, next state, done)."""

    def __init__(self, capacity: int, state_dim: int, action_dim: int):
        self.capacity = capacity
        self.s = np.zeros((capacity, state_dim), np.float32)
        self.a = np.zeros((capacity, action_dim), np.float32)
        self.r = np.zeros(capacity, np.float32)
        self.s2 = np.zeros((capacity, state_dim), np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.size = self.head = 0

    def add(self, t: Transition, reward: float) -> None:
        i = self.head
        self.s[i], self.a[i], self.r[i], self.s2[i], self.done[i] = t.state, t.action, reward, t.next_state, t.done
        self.head = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, self.size, size=n)
        return tuple(torch.from_numpy(x[idx]) for x in (self.s, self.a, self.r, self.s2, self.done))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"s": self.s, "a": self.a, "r": self.r, "s2": self.s2, "done": self.done}


class DDPGAgent(Agent):
    def __init__(self, state_dim: int, low: Sequence[float] | float, high: Sequence[float] | float, *,
                 rng: np.random.Generator, settings: DDPGSettings = DDPGSettings(), seed: int = 0):
        self.low = np.atleast_1d(np.asarray(low, dtype=np.float32))
        self.high = np.atleast_1d(np.asarray(high, dtype=np.float32))
        if self.low.shape != self.high.shape or np.any(self.high <= self.low):
            raise ValueError("action bounds: low < high, one pair per action dimension")
        self.state_dim, self.action_dim = state_dim, len(self.low)
        self.settings, self.rng = settings, rng
        h = settings.hidden
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            # the actor's sigmoid output in [0, 1] is scaled to the bounds
            self.actor = mlp(state_dim, self.action_dim, h, nn.Sigmoid())
            self.critic = mlp(state_dim + self.action_dim, 1, h)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=settings.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=settings.critic_lr)
        self.buffer = ReplayBuffer(settings.buffer_size, state_dim, self.action_dim)
        #: moving average of the sampled rewards (None until the first update)
        self.baseline: float | None = None
        self.episodes = 0
        self._last_episode_steps = 0
        self._span = torch.from_numpy(self.high - self.low)
        self._low = torch.from_numpy(self.low)

    # -- acting ------------------------------------------------------------------
    def sigma(self, episode: int) -> float:
        """Exploration noise (in units of the action range) in ``episode``."""
        s = self.settings
        return s.sigma * s.sigma_decay ** max(0, episode - s.warmup)

    def policy(self, state: np.ndarray) -> np.ndarray:
        """The actor's action for ``state``, without noise."""
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(state, np.float32)).reshape(1, -1)
            return (self._low + self._span * self.actor(x))[0].numpy()

    def act(self, state: np.ndarray, episode: int, *, explore: bool = True) -> np.ndarray:
        if explore and episode < self.settings.warmup:
            return self.rng.uniform(self.low, self.high).astype(np.float32)
        a = self.policy(state)
        if not explore:
            return a
        return self._truncated_normal(a, self.sigma(episode) * (self.high - self.low))

    def _truncated_normal(self, mean: np.ndarray, sd: np.ndarray, tries: int = 20) -> np.ndarray:
        """A normal draw around ``mean`` redrawn where it leaves the bounds (clipped after ``tries``)."""
        out = self.rng.normal(mean, sd)
        for _ in range(tries):
            bad = (out < self.low) | (out > self.high)
            if not bad.any():
                break
            out = np.where(bad, self.rng.normal(mean, sd), out)
        return np.clip(out, self.low, self.high).astype(np.float32)

    # -- learning -----------------------------------------------------------------
    def observe(self, transitions: Sequence[Transition], reward: float) -> None:
        for t in transitions:
            self.buffer.add(t, float(reward))
        self.episodes += 1
        self._last_episode_steps = len(transitions)

    def update(self) -> dict[str, float]:
        s = self.settings
        if self.episodes <= s.warmup or self.buffer.size == 0:
            return {}
        steps = s.updates_per_episode or max(1, self._last_episode_steps)
        losses = {"critic_loss": 0.0, "actor_loss": 0.0}
        for _ in range(steps):
            c, a = self._step()
            losses["critic_loss"] += c / steps
            losses["actor_loss"] += a / steps
        return losses

    def _step(self) -> tuple[float, float]:
        s = self.settings
        st, act, rew, st2, done = self.buffer.sample(self.rng, s.batch_size)
        mean = float(rew.mean())
        self.baseline = mean if self.baseline is None else self.baseline + s.baseline_alpha * (mean - self.baseline)
        with torch.no_grad():
            a2 = self._low + self._span * self.actor_target(st2)
            q2 = self.critic_target(torch.cat([st2, self._norm(a2)], 1)).squeeze(1)
            target = (rew - self.baseline) + s.discount * (1.0 - done) * q2
        q = self.critic(torch.cat([st, self._norm(act)], 1)).squeeze(1)
        critic_loss = nn.functional.mse_loss(q, target)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        actor_loss = -self.critic(torch.cat([st, self.actor(st)], 1)).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        self._soft_update(self.actor_target, self.actor)
        self._soft_update(self.critic_target, self.critic)
        return float(critic_loss.detach()), float(actor_loss.detach())

    def _norm(self, action: torch.Tensor) -> torch.Tensor:
        """An action in bounds as the critic sees it: scaled to [0, 1] like the actor's output."""
        return (action - self._low) / self._span

    def _soft_update(self, target: nn.Module, source: nn.Module) -> None:
        tau = self.settings.tau
        with torch.no_grad():
            for t, p in zip(target.parameters(), source.parameters()):
                t.mul_(1.0 - tau).add_(p, alpha=tau)

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimisers, the replay buffer, the baseline and the generator
        state (a copy: the agent may go on learning)."""
        return copy.deepcopy({"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "actor_target": self.actor_target.state_dict(), "critic_target": self.critic_target.state_dict(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "buffer": {k: v.copy() for k, v in self.buffer.arrays().items()},
                "buffer_size": self.buffer.size, "buffer_head": self.buffer.head, "baseline": self.baseline,
                "episodes": self.episodes, "last_episode_steps": self._last_episode_steps,
                "rng": self.rng.bit_generator.state})

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"):
            getattr(self, name).load_state_dict(state[name])
        for k, v in state["buffer"].items():
            getattr(self.buffer, k)[...] = v
        self.buffer.size, self.buffer.head = int(state["buffer_size"]), int(state["buffer_head"])
        self.baseline = state["baseline"]
        self.episodes, self._last_episode_steps = int(state["episodes"]), int(state["last_episode_steps"])
        self.rng.bit_generator.state = state["rng"]
