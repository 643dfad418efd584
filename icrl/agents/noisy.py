"""A degraded learner: any agent whose actions are replaced by uniform noise with a per-task probability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class NoisyState:
    inner: Any
    epsilon: jax.Array  # () this task's probability of a random action


@dataclass(frozen=True)
class NoisyAgent:
    """``agent`` acting at random with probability ``epsilon``, drawn once per task uniformly
    from ``[0, max_epsilon]``; it still learns from every transition (action noise injected
    into the learner, as in LHF's noisy-source experiments)."""

    agent: Any
    max_epsilon: float = 0.5

    def __post_init__(self):
        if not 0.0 <= self.max_epsilon <= 1.0:
            raise ValueError(f"max_epsilon must be in [0, 1], got {self.max_epsilon!r}")

    @property
    def num_actions(self) -> int:
        return self.agent.num_actions

    def init(self, key, env_params=None) -> NoisyState:
        k_inner, k_eps = jax.random.split(key)
        return NoisyState(self.agent.init(k_inner, env_params), jax.random.uniform(k_eps, (), maxval=self.max_epsilon))

    def act(self, key, state: NoisyState, obs):
        k_inner, k_flip, k_random = jax.random.split(key, 3)
        action, inner = self.agent.act(k_inner, state.inner, obs)
        random = jax.random.randint(k_random, (), 0, self.num_actions)
        action = jnp.where(jax.random.uniform(k_flip) < state.epsilon, random, action)
        return action.astype(jnp.int32), state.replace(inner=inner)

    def update(self, state: NoisyState, transition) -> NoisyState:
        return state.replace(inner=self.agent.update(state.inner, transition))
