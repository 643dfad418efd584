"""Tabular Q-learning: the learning algorithm whose histories Algorithm Distillation imitates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from envs.base import check_positive_int
from icrl.agents.base import Transition


@dataclass(frozen=True)
class QLearningAgent:
    """ε-greedy tabular Q-learning with optimistic initialisation.

    ``q_init`` defaults to ``1 / (1 - gamma)``, the largest return a reward-1
    task can give, so untried actions look best and the agent explores the
    room systematically. Ties are broken at random. The defaults (learning rate
    1, no ε-exploration) suit the deterministic grid worlds, where optimism
    alone explores: on 7x7 Dark Room with 49-step episodes they reach 0.95 of
    optimal by episode 30, where learning rate 0.5 and ε = 0.05 reach 0.75. The table persists across
    episodes (``rollout`` resets the environment, not the agent) and
    bootstraps through episode ends, since our grid worlds end on a time
    limit, not in a terminal state.

    With ``num_phases > 1`` the table is indexed by ``(phase, cell)``, where
    the phase counts the rewards earned so far in the episode (capped at
    ``num_phases - 1``, reset at an episode's end): in Dark Key-to-Door the
    position alone does not say whether the key is held, the reward count does.

    State: :class:`QState` with ``q: (num_phases * num_states, num_actions) float32``.
    """

    num_states: int
    num_actions: int
    obs_to_index: Callable[[jax.Array], jax.Array]
    learning_rate: float = 1.0
    gamma: float = 0.9
    epsilon: float = 0.0
    q_init: float | None = None
    num_phases: int = 1

    def __post_init__(self):
        for name in ("num_states", "num_actions", "num_phases"):
            check_positive_int(name, getattr(self, name))
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")
        if not 0 <= self.gamma < 1:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma!r}")
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon!r}")

    @staticmethod
    def env_arguments(env) -> dict:
        """The constructor arguments a grid world supplies (anything with ``num_states`` and ``obs_to_index``)."""
        if not hasattr(env, "obs_to_index"):
            raise ValueError(f"Q-learning needs a tabular environment with obs_to_index, got {env.name!r}")
        return {"num_states": env.num_states, "num_actions": env.num_actions, "obs_to_index": env.obs_to_index,
                "num_phases": getattr(env, "num_reward_phases", 1)}

    @classmethod
    def for_env(cls, env, **kwargs) -> "QLearningAgent":
        """Q-learning sized for a grid world; ``kwargs`` override its settings."""
        return cls(**{**cls.env_arguments(env), **kwargs})

    def init(self, key, env_params=None) -> "QState":
        q0 = 1.0 / (1.0 - self.gamma) if self.q_init is None else self.q_init
        q = jnp.full((self.num_phases * self.num_states, self.num_actions), q0, jnp.float32)
        return QState(q, jnp.zeros((), jnp.int32))

    def _index(self, phase, obs):
        return phase * self.num_states + self.obs_to_index(obs)

    def act(self, key, state: "QState", obs):
        k_tie, k_explore, k_arm = jax.random.split(key, 3)
        values = state.q[self._index(state.phase, obs)]
        best = values == jnp.max(values)
        greedy = jax.random.categorical(k_tie, jnp.where(best, 0.0, -jnp.inf))
        random = jax.random.randint(k_arm, (), 0, self.num_actions)
        explore = jax.random.uniform(k_explore) < self.epsilon
        return jnp.where(explore, random, greedy).astype(jnp.int32), state

    def update(self, state: "QState", transition: Transition) -> "QState":
        q, a = state.q, transition.action
        next_phase = jnp.minimum(state.phase + (transition.reward > 0), self.num_phases - 1)
        s = self._index(state.phase, transition.obs)
        s_next = self._index(next_phase, transition.next_obs)
        target = transition.reward + self.gamma * jnp.max(q[s_next])
        q = q.at[s, a].add(self.learning_rate * (target - q[s, a]))
        return QState(q, jnp.where(transition.done, 0, next_phase).astype(jnp.int32))


@struct.dataclass
class QState:
    q: jax.Array
    phase: jax.Array
