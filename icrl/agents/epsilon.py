"""The ε-greedy oracle: ICEE's data policy (Dai et al. 2024), the optimal action or a random one,
with a probability of a random action drawn afresh for every episode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs.base import TaskEnvironment
from icrl.agents.oracle import OracleAgent


@struct.dataclass
class EpsilonOracleState:
    oracle: Any  # the oracle's own state (its task and memory)
    key: jax.Array  # draws each new episode's epsilon
    epsilon: jax.Array  # () this episode's probability of a random action
    prob: jax.Array  # () the probability with which the last action was chosen
    best_to_go: jax.Array  # () the most reward the episode could still collect where the last action was taken
    best_steps: jax.Array  # () the fewest steps that collect it from there
    episode: jax.Array  # () episodes finished
    step: jax.Array  # () steps taken in this episode


@dataclass(frozen=True)
class EpsilonOracleAgent:
    """The oracle of ``env`` acting at random with probability ``epsilon``, drawn uniformly
    from ``[min_epsilon, max_epsilon]`` at the start of every episode (``min_epsilon = max_epsilon = 1``:
    uniformly random actions, for which ICEE's weights are all 1).

    A random action is drawn from ``q(a) ∝ skew ** a`` (``skew=1``: uniform; below 1 the
    behaviour leans toward the low-numbered actions: ICEE's biased data). ``record``
    reports ``(prob, epsilon, best_to_go, best_steps)``: the probability ``(1 - ε) [a = a*] + ε q(a)``
    of the action just taken (``a*`` the oracle's), the episode's ε, the most reward the rest of the
    episode could collect from the state it was taken in (the environment's ``best_return_to_go``),
    and the fewest steps that collect it (the least step count for which ``best_return_to_go`` is
    as large): what ICEE's weights and conditions are made of."""

    env: Any
    max_epsilon: float = 1.0
    min_epsilon: float = 0.0
    skew: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.max_epsilon <= 1.0:
            raise ValueError(f"max_epsilon must be in [0, 1], got {self.max_epsilon!r}")
        if not 0.0 <= self.min_epsilon <= self.max_epsilon:
            raise ValueError(f"min_epsilon must be in [0, max_epsilon={self.max_epsilon}], got {self.min_epsilon!r}")
        if not 0.0 < self.skew <= 1.0:
            raise ValueError(f"skew must be in (0, 1], got {self.skew!r}")
        OracleAgent(self.env)  # an environment without an oracle is refused here
        if type(self.env).best_return_to_go is TaskEnvironment.best_return_to_go or not hasattr(self.env, "horizon"):
            raise ValueError(f"the epsilon-greedy oracle needs fixed-length episodes and each state's best return to go "
                             f"(best_return_to_go); environment {getattr(self.env, 'name', self.env)!r} has not")

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    @property
    def random_probs(self) -> jax.Array:
        """``q``: ``(num_actions,)``, how a random action is drawn."""
        q = self.skew ** jnp.arange(self.num_actions, dtype=jnp.float32)
        return q / q.sum()

    def init(self, key, env_params) -> EpsilonOracleState:
        k_eps, key = jax.random.split(key)
        epsilon = jax.random.uniform(k_eps, (), minval=self.min_epsilon, maxval=self.max_epsilon)
        zero = jnp.zeros((), jnp.int32)
        return EpsilonOracleState(OracleAgent(self.env).init(key, env_params), key, epsilon, jnp.ones(()), jnp.zeros(()), zero, zero,
                                  zero)

    def act(self, key, state: EpsilonOracleState, obs):
        k_flip, k_random = jax.random.split(key)
        best, oracle = OracleAgent(self.env).act(key, state.oracle, obs)
        q = self.random_probs
        random = jax.random.categorical(k_random, jnp.log(q))
        action = jnp.where(jax.random.uniform(k_flip) < state.epsilon, random, best).astype(jnp.int32)
        prob = (1 - state.epsilon) * (action == best) + state.epsilon * q[action]
        steps_left = self.env.horizon - state.step
        within = jnp.arange(self.env.horizon + 1)  # every step count up to a whole episode
        best_within = jax.vmap(lambda n: self.env.best_return_to_go(obs, state.oracle.memory, n, state.oracle.env_params))(within)
        best_to_go = best_within[steps_left]
        best_steps = jnp.argmax((best_within >= best_to_go - 1e-6) & (within <= steps_left))  # the first count that collects it
        return action, state.replace(oracle=oracle, prob=prob, best_to_go=best_to_go, best_steps=best_steps.astype(jnp.int32))

    def record(self, state: EpsilonOracleState):
        return state.prob, state.epsilon, state.best_to_go, state.best_steps

    def update(self, state: EpsilonOracleState, transition) -> EpsilonOracleState:
        oracle = OracleAgent(self.env).update(state.oracle, transition)
        done = jnp.asarray(transition.done, bool)
        k_eps = jax.random.fold_in(state.key, state.episode)
        epsilon = jnp.where(done, jax.random.uniform(k_eps, (), minval=self.min_epsilon, maxval=self.max_epsilon), state.epsilon)
        return state.replace(oracle=oracle, epsilon=epsilon, episode=state.episode + done, step=jnp.where(done, 0, state.step + 1))
