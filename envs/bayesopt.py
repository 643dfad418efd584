"""Bayesian optimisation as a bandit: ICEE's second setting (Dai, Tomasi & Ghiassian 2024).

A task is a function on a ``size x size`` grid of candidates in the unit square, drawn from
a Gaussian process with a Matérn-5/2 kernel; every step queries one candidate (the action)
and earns the function's value there (the reward). Regret is measured against the grid's
maximum: the evaluation reports it cumulatively and as simple regret (the maximum less the
best value found so far).

``horizon`` is the number of queries in one episode. ICEE treats each query as an episode of
its own (``horizon=1``), so that its cross-episode flag says whether a query beat every
earlier one; a rollout of ``K`` episodes is then ``K`` queries of one function.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from envs.bandit import Bandit, split_key
from envs.base import check_positive_int

#: Added to the kernel's diagonal when the prior is factored, relative to its variance.
JITTER = 1e-6


def cosines(x, count: int):
    """``x (...)`` in [0, 1] -> ``(..., count)``: ``cos(π k x)`` for ``k = 0 .. count - 1``, each but the first
    scaled by √2 (at a grid's cell centres, ``(i + 0.5) / size``, the orthonormal DCT-II basis times √size)."""
    k = jnp.arange(count, dtype=jnp.float32)
    scale = jnp.where(k > 0, math.sqrt(2.0), 1.0)
    return scale * jnp.cos(math.pi * k * jnp.asarray(x, jnp.float32)[..., None])


def grid_cosines(x, y, count: int):
    """The smooth 2-D basis of a grid's points ``(x, y)`` in the unit square: ``(..., count**2)``, the products
    ``cos(π j y) cos(π k x)`` (row ``j``, column ``k``; scaled as :func:`cosines`)."""
    return (cosines(y, count)[..., :, None] * cosines(x, count)[..., None, :]).reshape(jnp.shape(x) + (count * count,))


def matern52(distance: np.ndarray, lengthscale: float, variance: float) -> np.ndarray:
    """The Matérn-5/2 covariance at ``distance``: ``σ² (1 + √5 r/ℓ + 5 r² / 3ℓ²) exp(−√5 r/ℓ)``."""
    s = math.sqrt(5.0) * np.asarray(distance) / lengthscale
    return variance * (1.0 + s + s * s / 3.0) * np.exp(-s)


@struct.dataclass
class BayesOptState(environment.EnvState):
    time: jax.Array
    last: jax.Array  # () the candidate queried last in this episode (-1 before any)


@struct.dataclass
class BayesOptParams(environment.EnvParams):
    """One task: ``values (size * size,)``, the function at every candidate."""

    values: jax.Array = None
    max_steps_in_episode: int = 1


class BayesOpt(Bandit):
    """Functions on a grid drawn from a Matérn-5/2 Gaussian process, one query a step.

    Candidate ``a`` lies at ``((a % size + 0.5) / size, (a // size + 0.5) / size)``. The prior:
    mean ``mean``, kernel variance ``variance``, length scale ``lengthscale`` (in units of the
    square's side); rewards are the function's values, plus Gaussian noise of ``noise_std``
    where it is above 0. The train and test splits are independent streams of draws (as the
    bandits', :func:`envs.bandit.split_key`), so they share no function.

    The observation after a query is where it was made: ``(x, y, 1)``; ``(0, 0, 0)`` before any
    query of an episode. Its features (``obs_features``) add one-hot codes of the column and
    the row, so that a model sees which candidates neighbour each other; with ``basis=K`` they
    add instead the ``K x K`` products of cosines of :func:`grid_cosines`, a smooth code in which
    near candidates look alike (a model scoring candidates in the same basis: ``Transformer.output_basis``).

    ICEE reads two attributes: ``return_floor`` (−∞: every first query beats an empty episode;
    the grid worlds' is 0, an episode that found nothing) and ``return_tolerance`` (a query
    falls short of the best where it is below the maximum at all: values are continuous)."""

    return_floor = -math.inf
    return_tolerance = 1e-6

    def __init__(self, size: int = 32, horizon: int = 1, lengthscale: float = 0.2, variance: float = 1.0, mean: float = 0.0,
                 noise_std: float = 0.0, basis: int = 0):
        self.size = check_positive_int("size", size, 2)
        self.basis = check_positive_int("basis", basis, 0)
        if self.basis > self.size:
            raise ValueError(f"basis={basis} cosines per axis: a grid of size={size} has at most {size}")
        super().__init__(self.size * self.size, horizon)
        for name, value in (("lengthscale", lengthscale), ("variance", variance)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not noise_std >= 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
        self.lengthscale, self.variance, self.mean, self.noise_std = float(lengthscale), float(variance), float(mean), float(noise_std)
        self.coords = np.stack(np.meshgrid((np.arange(self.size) + 0.5) / self.size, (np.arange(self.size) + 0.5) / self.size),
                               -1).reshape(-1, 2)  # (N, 2): candidate a at (column, row) = (a % size, a // size)
        self.kernel = matern52(np.linalg.norm(self.coords[:, None] - self.coords[None], axis=-1), self.lengthscale, self.variance)
        jitter = JITTER * self.variance * np.eye(self.num_arms)
        self._cholesky = jnp.asarray(np.linalg.cholesky(self.kernel + jitter), jnp.float32)

    # --- tasks ----------------------------------------------------------------
    def sample_tasks(self, key, num_tasks: int, split: str = "train") -> BayesOptParams:
        num_tasks = check_positive_int("num_tasks", num_tasks)
        z = jax.random.normal(split_key(key, split), (num_tasks, self.num_arms))
        values = self.mean + z @ self._cholesky.T
        return BayesOptParams(values=values, max_steps_in_episode=jnp.full((num_tasks,), self.horizon))

    @property
    def default_params(self) -> BayesOptParams:
        return BayesOptParams(values=jnp.full((self.num_arms,), self.mean, jnp.float32), max_steps_in_episode=self.horizon)

    def expected_rewards(self, params) -> jax.Array:
        return params.values

    def _sample_reward(self, key, params, action) -> jax.Array:
        value = params.values[action]
        return value + self.noise_std * jax.random.normal(key) if self.noise_std > 0 else value

    def best_return_to_go(self, obs, memory, steps_left, params) -> jax.Array:
        return steps_left * jnp.max(params.values)

    # --- gymnax API -----------------------------------------------------------
    def reset_env(self, key, params):
        state = BayesOptState(time=jnp.zeros((), jnp.int32), last=jnp.full((), -1, jnp.int32))
        return self.get_obs(state, params), state

    def step_env(self, key, state, action, params):
        reward = self._sample_reward(key, params, action)
        state = BayesOptState(time=state.time + 1, last=jnp.asarray(action, jnp.int32))
        return self.get_obs(state, params), state, reward, jnp.array(False), {}  # truncated after max_steps_in_episode

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        xy = jnp.asarray(self.coords, jnp.float32)[jnp.maximum(state.last, 0)]
        queried = (state.last >= 0).astype(jnp.float32)
        return jnp.concatenate([xy * queried, queried[None]])

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (3,), jnp.float32)

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict({"time": spaces.Discrete(self.horizon + 1), "last": spaces.Discrete(self.num_arms + 1)})

    # --- features for a model -------------------------------------------------
    @property
    def obs_feature_dim(self) -> int:
        return 3 + (self.basis ** 2 if self.basis else 2 * self.size)

    def obs_features(self, obs: jax.Array) -> jax.Array:
        """``(..., 3) -> (..., obs_feature_dim)``: the observation, then one-hot column and row, or (``basis``) the
        grid cosines of where the query was made (zeros before a query)."""
        obs = jnp.asarray(obs, jnp.float32)
        if self.basis:
            return jnp.concatenate([obs, grid_cosines(obs[..., 0], obs[..., 1], self.basis) * obs[..., 2:3]], axis=-1)
        cell = jnp.clip(jnp.floor(obs[..., :2] * self.size), 0, self.size - 1).astype(jnp.int32)
        queried = obs[..., 2:3]
        return jnp.concatenate([obs, jax.nn.one_hot(cell[..., 0], self.size) * queried,
                                jax.nn.one_hot(cell[..., 1], self.size) * queried], axis=-1)

    @property
    def name(self) -> str:
        return "bayesopt"
