"""Agents for linear bandits: LinUCB and linear Thompson sampling.

Both read the arm features from the task's ``env_params.features`` at ``init``
and keep the ridge-regression statistics ``A⁻¹`` (Sherman–Morrison updates) and
``b = Σ r x``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from icrl.agents.base import Transition


@struct.dataclass
class RidgeState:
    """``features: (num_arms, dim)``, ``a_inv: (dim, dim)``, ``b: (dim,)``."""

    features: jax.Array
    a_inv: jax.Array
    b: jax.Array

    @classmethod
    def of(cls, features: jax.Array, action: jax.Array, reward: jax.Array, reg: float = 1.0) -> "RidgeState":
        """The statistics of a whole sequence of pulls at once (``action, reward: (T,)``): what
        ``T`` Sherman–Morrison updates from ``reg · I`` keep, by one inverse."""
        x = features[action]  # (T, dim)
        a = reg * jnp.eye(features.shape[-1]) + x.T @ x
        return cls(features, jnp.linalg.inv(a), x.T @ jnp.asarray(reward, x.dtype))

    @property
    def theta(self) -> jax.Array:
        """The ridge estimate ``A⁻¹ b``: ``(dim,)``."""
        return self.a_inv @ self.b

    @property
    def widths(self) -> jax.Array:
        """Each arm's confidence width ``sqrt(x_aᵀ A⁻¹ x_a)``: ``(num_arms,)``."""
        return jnp.sqrt(jnp.einsum("ad,de,ae->a", self.features, self.a_inv, self.features))


class _RidgeAgent:
    num_actions: int
    reg: float

    def __post_init__(self):
        if not self.reg > 0:
            raise ValueError(f"reg must be > 0, got {self.reg!r}")

    def init(self, key, env_params) -> RidgeState:
        features = getattr(env_params, "features", None)
        if features is None:
            raise ValueError(f"{type(self).__name__} needs env_params.features (a linear bandit), got {type(env_params).__name__}")
        if features.shape[0] != self.num_actions:
            raise ValueError(f"{type(self).__name__} built for {self.num_actions} arms, task has {features.shape[0]}")
        dim = features.shape[-1]
        return RidgeState(features, jnp.eye(dim) / self.reg, jnp.zeros(dim))

    def update(self, state: RidgeState, transition: Transition) -> RidgeState:
        x = state.features[transition.action]
        ax = state.a_inv @ x
        a_inv = state.a_inv - jnp.outer(ax, ax) / (1.0 + x @ ax)
        return state.replace(a_inv=a_inv, b=state.b + transition.reward * x)


@dataclass(frozen=True)
class LinUCBAgent(_RidgeAgent):
    """``argmax_a x_aᵀθ̂ + alpha · sqrt(x_aᵀ A⁻¹ x_a)`` with ``θ̂ = A⁻¹ b``, ``A = reg·I + Σ x xᵀ``."""

    num_actions: int
    alpha: float = 1.0
    reg: float = 1.0

    def act(self, key, state: RidgeState, obs):
        return jnp.argmax(state.features @ state.theta + self.alpha * state.widths).astype(jnp.int32), state


@dataclass(frozen=True)
class LinearThompsonAgent(_RidgeAgent):
    """Samples ``θ ~ N(A⁻¹ b, noise_std² A⁻¹)`` and plays its best arm."""

    num_actions: int
    noise_std: float = 0.3
    reg: float = 1.0

    def act(self, key, state: RidgeState, obs):
        mean = state.a_inv @ state.b
        chol = jnp.linalg.cholesky(state.a_inv + 1e-9 * jnp.eye(mean.shape[0]))
        theta = mean + self.noise_std * chol @ jax.random.normal(key, mean.shape)
        return jnp.argmax(state.features @ theta).astype(jnp.int32), state
