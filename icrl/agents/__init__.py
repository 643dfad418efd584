"""Agents: everything that acts in an environment shares the :class:`Agent` interface."""

from __future__ import annotations

from typing import Any, Callable

from envs.base import check_keywords
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
from icrl.agents.epsilon import EpsilonOracleAgent
from icrl.agents.gp import GPEIAgent
from icrl.agents.posterior import TaskPosteriorAgent
from icrl.agents.tabular import QLearningAgent


def _sized(cls):
    """A class built with the environment's number of actions."""
    return lambda env: (cls, {"num_actions": env.num_actions})


def _thompson(env):
    noise_std = getattr(env, "noise_std", None)
    if getattr(env, "name", "") == "bernoulli-bandit" or noise_std is None:
        return BernoulliThompsonAgent, {"num_actions": env.num_actions}
    return GaussianThompsonAgent, {"num_actions": env.num_actions, "noise_std": noise_std}


def _linear(cls):
    def resolve(env):
        if not hasattr(env, "features"):
            raise ValueError(f"{cls.__name__} needs a linear bandit, got environment {env.name!r}")
        base = {"num_actions": env.num_actions}
        if cls is LinearThompsonAgent:
            base["noise_std"] = env.noise_std
        return cls, base

    return resolve


def _for_env(cls, **defaults):
    return lambda env: (cls, {"env": env, **defaults})


#: name -> ``resolve(env) -> (agent class, constructor arguments the environment supplies)``;
#: a caller's keywords are checked against the class and override those arguments.
AGENTS: dict[str, Callable[[Any], tuple[type, dict]]] = {
    "random": _sized(RandomAgent),
    "dirichlet": _sized(DirichletRandomAgent),
    "epsilon-greedy": _sized(EpsilonGreedyAgent),
    "ucb": _sized(UCBAgent),
    "thompson": _thompson,
    "linucb": _linear(LinUCBAgent),
    "lin-thompson": _linear(LinearThompsonAgent),
    "q-learning": lambda env: (QLearningAgent, QLearningAgent.env_arguments(env)),
    "oracle": _for_env(OracleAgent),
    "epsilon-oracle": _for_env(EpsilonOracleAgent),  # ICEE's data: the oracle, random with a probability drawn per episode
    # exact Bayes over a finite task pool: DPT's pretraining target, and PSRL
    "posterior": _for_env(TaskPosteriorAgent, mode="action"),
    "psrl": _for_env(TaskPosteriorAgent, mode="episode"),
    # the exact posterior taken in at episode ends only: the ceiling of a DPT deployed with an episode-frozen context
    "posterior-episode": _for_env(TaskPosteriorAgent, mode="action", context="episode"),
    # Bayesian optimisation: expected improvement under the exact Gaussian-process prior of the tasks
    "gp-ei": _for_env(GPEIAgent),
}


def make_agent(name: str, env, **kwargs) -> Agent:
    """Agent ``name`` sized for ``env`` (any gymnax environment with discrete actions).

    ``kwargs`` are the agent's own settings (``make_agent("ucb", env, c=2.0)``);
    unknown ones raise ``ValueError`` before anything is built."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; valid names: {sorted(AGENTS)}")
    cls, base = AGENTS[name](env)
    check_keywords(cls, kwargs, f"agent {name!r} ({cls.__name__})")
    return cls(**{**base, **kwargs})


__all__ = [
    "AGENTS", "Agent", "AgentState", "Transition", "make_agent", "RandomAgent",
    "DirichletRandomAgent", "EpsilonGreedyAgent", "UCBAgent", "BernoulliThompsonAgent",
    "GaussianThompsonAgent", "LinUCBAgent", "LinearThompsonAgent", "QLearningAgent", "OracleAgent", "EpsilonOracleAgent", "TaskPosteriorAgent", "ModelAgent",
    "GPEIAgent",
]
