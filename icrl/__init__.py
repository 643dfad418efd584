"""icrl: in-context reinforcement learning in JAX."""

from icrl.agents import Agent, Transition, make_agent
from icrl.rollout import History, cumulative_regret, episode_returns, rollout, rollout_task

__all__ = ["Agent", "Transition", "make_agent", "History", "rollout", "rollout_task", "cumulative_regret", "episode_returns"]
