"""Agents that decide step by step within an episode (AMC, HAQ): the DDPG agent."""
from .base import Agent, Transition
from .ddpg import DDPGAgent, DDPGSettings, ReplayBuffer

__all__ = ["Agent", "Transition", "DDPGAgent", "DDPGSettings", "ReplayBuffer"]
