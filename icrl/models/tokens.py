"""The shared token: one per interaction step, for bandits and grid worlds alike.

Token ``t`` = ``[query_t, obs_{t-1}, one_hot(action_{t-1}), reward_{t-1}, next_obs_{t-1}, done_{t-1}, has_prev]``:
the state to act in now, and the previous transition (zeros and ``has_prev=0``
at the start). The model's output at ``t`` is the action for ``query_t`` given
every transition before ``t``: DPT queries arbitrary states with the optimal
action as label; AD's query is the state the source acted in, labelled with the
source's action; an in-context rollout queries the current observation. The
same format serves all three, and the step face needs one token per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def _flatten_float(obs):
    obs = jnp.asarray(obs, jnp.float32)
    return obs.reshape(obs.shape[:-1] + (-1,)) if obs.ndim else obs[None]


@dataclass(frozen=True)
class TokenSpec:
    """How observations become features. ``for_env`` picks the environment's
    ``obs_features`` (grid worlds: one-hot x and y, and scaled coordinates) or the raw observation.
    ``num_conditions`` features a method adds at the end of every token (ICEE: the return to
    go and the cross-episode flag); every token then needs them."""

    obs_dim: int
    num_actions: int
    encode_obs: Callable[[jax.Array], jax.Array] = _flatten_float
    num_conditions: int = 0

    @classmethod
    def for_env(cls, env, params=None) -> "TokenSpec":
        if hasattr(env, "obs_features"):
            return cls(env.obs_feature_dim, env.num_actions, env.obs_features)
        shape = env.observation_space(env.default_params if params is None else params).shape
        return cls(int(np.prod(shape)), env.num_actions)

    @property
    def transition_dim(self) -> int:
        return 2 * self.obs_dim + self.num_actions + 3

    @property
    def token_dim(self) -> int:
        return self.obs_dim + self.transition_dim + self.num_conditions

    def transition(self, obs, action, reward, next_obs, done=None) -> jax.Array:
        """Features of transitions with leading dims ``(...)``: ``(..., transition_dim)``."""
        done = jnp.zeros(jnp.shape(action), jnp.float32) if done is None else jnp.asarray(done, jnp.float32)
        return jnp.concatenate(
            [
                self.encode_obs(obs),
                jax.nn.one_hot(action, self.num_actions),
                jnp.asarray(reward, jnp.float32)[..., None],
                self.encode_obs(next_obs),
                done[..., None],
                jnp.ones(jnp.shape(action) + (1,), jnp.float32),
            ],
            axis=-1,
        )

    def empty_transition(self, leading_shape=()) -> jax.Array:
        return jnp.zeros(tuple(leading_shape) + (self.transition_dim,), jnp.float32)

    def token(self, query_obs, prev_transition, conditions=None) -> jax.Array:
        """One token from a query observation, previous transition features and, where the spec
        has them, ``conditions (..., num_conditions)``."""
        parts = [self.encode_obs(query_obs), prev_transition]
        if self.num_conditions:
            if conditions is None or jnp.shape(conditions)[-1] != self.num_conditions:
                raise ValueError(f"tokens of this spec end with {self.num_conditions} condition features, got "
                                 f"{None if conditions is None else jnp.shape(conditions)}")
            parts.append(jnp.asarray(conditions, jnp.float32))
        elif conditions is not None:
            raise ValueError("this token spec has no condition features (num_conditions=0), but conditions were given")
        return jnp.concatenate(parts, axis=-1)

    def tokens(self, history, queries=None, conditions=None) -> jax.Array:
        """Tokens for a :class:`icrl.types.History` of ``T`` steps (leading dims ``(..., T)``):
        token ``t`` holds the query for step ``t`` and transition ``t - 1``.

        ``queries: (..., T, *obs_shape)`` gives ``T`` tokens, the last one before
        transition ``T - 1``; ``(..., T + 1, *obs_shape)`` gives ``T + 1``, the last one
        after the whole history (DPT labels every prefix, the full one included).
        Default: the observations, as for AD and online rollouts. ``conditions (..., T, C)``: the
        per-step condition features of a spec with ``num_conditions = C``."""
        queries = history.obs if queries is None else queries
        num_queries, num_steps = queries.shape[history.action.ndim - 1], history.action.shape[-1]
        if num_queries not in (num_steps, num_steps + 1):
            raise ValueError(f"{num_queries} queries for a history of {num_steps} steps; expected {num_steps} or {num_steps + 1}")
        trans = self.transition(history.obs, history.action, history.reward, history.next_obs, history.done)
        if num_queries == num_steps:
            trans = trans[..., :-1, :]
        shifted = jnp.concatenate([self.empty_transition(trans.shape[:-2] + (1,)), trans], axis=-2)
        return self.token(queries, shifted, conditions)
