"""icrl: in-context reinforcement learning in JAX."""

from icrl.agents import Agent, make_agent
from icrl.rollout import cumulative_regret, episode_returns, rollout, rollout_task, simple_regret
from icrl.types import History, Samples, Transition

__all__ = [
    "Agent", "Transition", "History", "Samples", "make_agent", "rollout", "rollout_task", "cumulative_regret",
    "episode_returns", "simple_regret",
]
