"""Gaussian-process expected improvement: the classic Bayesian-optimisation agent, exact on a grid of candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.stats import norm

from envs.base import check_positive_int

#: Added to the observed points' prior variance (relative to the kernel's), so the factorisation stays stable in
#: float32 when queries lie close together or repeat; noise-free values are still matched to within it.
JITTER = 1e-4


@struct.dataclass
class GPState:
    queried: jax.Array  # (max_queries,) int32: the candidates queried, in order
    values: jax.Array  # (max_queries,) the values they returned
    count: jax.Array  # () how many


def posterior(kernel: jax.Array, mean: float, noise_var: float, state: GPState) -> tuple[jax.Array, jax.Array]:
    """The GP posterior mean and standard deviation at every candidate, ``((N,), (N,))``, given the
    first ``state.count`` observations (static shapes: the unused slots are decoupled from the rest
    by an identity block, and carry no value)."""
    used = jnp.arange(state.queried.shape[0]) < state.count
    pair = used[:, None] & used[None, :]
    k_obs = jnp.where(pair, kernel[state.queried][:, state.queried], jnp.eye(used.shape[0], dtype=kernel.dtype))
    k_obs = k_obs + noise_var * jnp.diag(used.astype(kernel.dtype))
    chol = jnp.linalg.cholesky(k_obs)
    residual = jnp.where(used, state.values - mean, 0.0)
    cross = kernel[:, state.queried] * used[None, :]  # (N, M)
    mu = mean + cross @ cho_solve((chol, True), residual)
    v = solve_triangular(chol, cross.T, lower=True)  # (M, N)
    var = jnp.diag(kernel) - jnp.sum(v * v, axis=0)
    return mu, jnp.sqrt(jnp.maximum(var, 1e-12))


def expected_improvement(mu: jax.Array, sd: jax.Array, best: jax.Array) -> jax.Array:
    """``E[max(f - best, 0)]`` under ``f ~ N(mu, sd²)``: ``sd (z Φ(z) + φ(z))``, ``z = (mu - best) / sd``."""
    z = (mu - best) / sd
    return sd * (z * norm.cdf(z) + norm.pdf(z))


@dataclass(frozen=True)
class GPEIAgent:
    """Bayesian optimisation by expected improvement over the best value seen, with the exact GP
    posterior on the environment's grid of candidates (:class:`envs.bayesopt.BayesOpt`).

    The GP is the prior the tasks are drawn from (its kernel matrix, mean and noise): no
    hyperparameter is fitted, so this is expected improvement at its best on these tasks. The
    first query, with nothing observed, is a candidate drawn uniformly; later ones maximise
    the expected improvement (the first of equals). Each step costs a Cholesky factor of the
    queries so far and a solve against every candidate: ``O(M³ + N M²)`` for ``M`` queries and
    ``N`` candidates. ``max_queries`` bounds ``M`` (static shapes); a longer rollout is refused."""

    env: Any
    max_queries: int = 100

    def __post_init__(self):
        if not hasattr(self.env, "kernel") or not hasattr(self.env, "mean"):
            raise ValueError(f"GP expected improvement needs an environment with a Gaussian-process prior over a grid of "
                             f"candidates (kernel, mean: envs.bayesopt.BayesOpt), got {getattr(self.env, 'name', self.env)!r}")
        check_positive_int("max_queries", self.max_queries)

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def check_num_steps(self, num_steps: int) -> None:
        if num_steps > self.max_queries:
            raise ValueError(f"GP expected improvement keeps at most max_queries={self.max_queries} observations; "
                             f"a rollout of {num_steps} steps needs max_queries >= {num_steps}")

    def init(self, key, env_params=None) -> GPState:
        zero = jnp.zeros((self.max_queries,), jnp.int32)
        return GPState(zero, jnp.zeros((self.max_queries,), jnp.float32), jnp.zeros((), jnp.int32))

    def act(self, key, state: GPState, obs):
        kernel = jnp.asarray(np.asarray(self.env.kernel, np.float32))
        mu, sd = posterior(kernel, self.env.mean, self.env.noise_std ** 2 + JITTER * self.env.variance, state)
        used = jnp.arange(self.max_queries) < state.count
        best = jnp.max(jnp.where(used, state.values, -jnp.inf))
        chosen = jnp.argmax(expected_improvement(mu, sd, best))
        first = jax.random.randint(key, (), 0, self.num_actions)
        return jnp.where(state.count > 0, chosen, first).astype(jnp.int32), state

    def update(self, state: GPState, transition) -> GPState:
        i = jnp.minimum(state.count, self.max_queries - 1)
        return GPState(state.queried.at[i].set(transition.action), state.values.at[i].set(transition.reward), state.count + 1)
