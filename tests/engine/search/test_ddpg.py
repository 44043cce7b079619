"""The DDPG agent solves a small target-reaching task with per-layer episodes
and a reward only at the end (AMC's shape)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.search.agents import DDPGAgent, DDPGSettings, Transition

LAYERS = 2
SETTINGS = DDPGSettings(hidden=32, actor_lr=3e-3, critic_lr=1e-2, tau=0.05, batch_size=32, warmup=20,
                        sigma=0.3, sigma_decay=0.97, buffer_size=1000)


def _state(target: float, t: int) -> np.ndarray:
    return np.array([target, t / LAYERS], np.float32)


def episode(agent: DDPGAgent, rng: np.random.Generator, n: int, *, explore: bool = True,
            act=None) -> tuple[list[Transition], float]:
    """Each layer shows a target in [0.1, 0.9]; the reward is minus the mean
    distance of the layers' actions from their targets."""
    targets = rng.uniform(0.1, 0.9, LAYERS)
    transitions, err = [], []
    for t in range(LAYERS):
        s = _state(targets[t], t)
        a = act(s) if act is not None else agent.act(s, n, explore=explore)
        err.append(abs(float(a[0]) - targets[t]))
        nxt = _state(targets[t + 1], t + 1) if t + 1 < LAYERS else np.zeros(2, np.float32)
        transitions.append(Transition(s, a, nxt, t + 1 == LAYERS))
    return transitions, -float(np.mean(err))


def train(agent: DDPGAgent, episodes: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for n in range(episodes):
        tr, reward = episode(agent, rng, n)
        agent.observe(tr, reward)
        agent.update()


def mean_error(agent: DDPGAgent, act=None) -> float:
    rng = np.random.default_rng(99)
    return -np.mean([episode(agent, rng, 10**6, explore=False, act=act)[1] for _ in range(100)])


def test_ddpg_reaches_the_targets_and_random_actions_do_not():
    agent = DDPGAgent(2, 0.0, 1.0, rng=np.random.default_rng(0), settings=SETTINGS, seed=0)
    before = mean_error(agent)
    train(agent, 300)
    after = mean_error(agent)
    rand_rng = np.random.default_rng(5)
    random_actions = mean_error(agent, act=lambda s: rand_rng.uniform(0.0, 1.0, 1))
    assert after < 0.08, after
    assert random_actions > 0.2 and before > 0.15


def test_warmup_is_random_in_bounds_and_noise_decays():
    agent = DDPGAgent(2, [0.2, -1.0], [0.5, 1.0], rng=np.random.default_rng(0), settings=SETTINGS)
    acts = np.array([agent.act(np.zeros(2), 0) for _ in range(200)])
    assert np.all(acts >= [0.2, -1.0]) and np.all(acts <= [0.5, 1.0])
    assert acts[:, 0].std() > 0.05  # uniform over the bounds, not the actor's
    later = np.array([agent.act(np.zeros(2), 500) for _ in range(50)])
    assert np.all(later >= [0.2, -1.0]) and np.all(later <= [0.5, 1.0])
    assert agent.sigma(SETTINGS.warmup + 10) == pytest.approx(SETTINGS.sigma * SETTINGS.sigma_decay ** 10)
    assert agent.update() == {}  # nothing learnt during warm-up


def test_state_dict_resumes_identically():
    def make():
        return DDPGAgent(2, 0.0, 1.0, rng=np.random.default_rng(0), settings=SETTINGS, seed=0)
    a = make()
    train(a, 30, seed=3)
    b = make()
    b.load_state_dict(a.state_dict())
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    for n in range(30, 35):
        for agent, rng in ((a, rng_a), (b, rng_b)):
            tr, r = episode(agent, rng, n)
            agent.observe(tr, r)
            agent.update()
    s = np.array([0.3, 0.5], np.float32)
    assert np.array_equal(a.policy(s), b.policy(s))
    assert a.baseline == b.baseline
    for p, q in zip(a.critic.parameters(), b.critic.parameters()):
        assert torch.equal(p, q)
