"""Agents: everything that acts in an environment shares the :class:`Agent` interface."""

from __future__ import annotations

from typing import Any, Callable

from icrl.agents.bandit import (
    BernoulliThompsonAgent,
    DirichletRandomAgent,
    EpsilonGreedyAgent,
    GaussianThompsonAgent,
    RandomAgent,
    UCBAgent,
)
from icrl.agents.base import Agent, AgentState
from icrl.types import Transition
from icrl.agents.linear import LinearThompsonAgent, LinUCBAgent
from icrl.agents.model import ModelAgent
from icrl.agents.oracle import OracleAgent
from icrl.agents.posterior import TaskPosteriorAgent
from icrl.agents.tabular import QLearningAgent


def _thompson(env, **kw):
    noise_std = getattr(env, "noise_std", None)
    if getattr(env, "name", "") == "bernoulli-bandit" or noise_std is None:
        return BernoulliThompsonAgent(env.num_actions, **kw)
    return GaussianThompsonAgent(env.num_actions, noise_std=noise_std, **kw)


def _linear(cls):
    def build(env, **kw):
        if not hasattr(env, "features"):
            raise ValueError(f"{cls.__name__} needs a linear bandit, got environment {env.name!r}")
        if cls is LinearThompsonAgent:
            kw.setdefault("noise_std", env.noise_std)
        return cls(env.num_actions, **kw)

    return build


AGENTS: dict[str, Callable[..., Any]] = {
    "random": lambda env, **kw: RandomAgent(env.num_actions, **kw),
    "dirichlet": lambda env, **kw: DirichletRandomAgent(env.num_actions, **kw),
    "epsilon-greedy": lambda env, **kw: EpsilonGreedyAgent(env.num_actions, **kw),
    "ucb": lambda env, **kw: UCBAgent(env.num_actions, **kw),
    "thompson": _thompson,
    "linucb": _linear(LinUCBAgent),
    "lin-thompson": _linear(LinearThompsonAgent),
    "q-learning": lambda env, **kw: QLearningAgent.for_env(env, **kw),
    "oracle": lambda env, **kw: OracleAgent(env, **kw),
    # exact Bayes over a finite task pool: DPT's pretraining target, and PSRL
    "posterior": lambda env, **kw: TaskPosteriorAgent(env, **{"mode": "action", **kw}),
    "psrl": lambda env, **kw: TaskPosteriorAgent(env, **{"mode": "episode", **kw}),
}


def make_agent(name: str, env, **kwargs) -> Agent:
    """Agent ``name`` sized for ``env`` (any gymnax environment with discrete actions)."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; valid names: {sorted(AGENTS)}")
    try:
        return AGENTS[name](env, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments {kwargs} for agent {name!r}: {err}") from None


__all__ = [
    "AGENTS", "Agent", "AgentState", "Transition", "make_agent", "RandomAgent",
    "DirichletRandomAgent", "EpsilonGreedyAgent", "UCBAgent", "BernoulliThompsonAgent",
    "GaussianThompsonAgent", "LinUCBAgent", "LinearThompsonAgent", "QLearningAgent", "OracleAgent", "TaskPosteriorAgent", "ModelAgent",
]
