"""Linear bandit: fixed arm features per environment, the task is the parameter vector θ."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs.bandit import Bandit, split_key
from envs.base import check_positive_int


@struct.dataclass
class LinearBanditParams(environment.EnvParams):
    """One task. ``features: (num_arms, dim)`` (the same for every task of an
    environment, carried here so agents can read them), ``theta: (dim,)``."""

    features: jax.Array = None
    theta: jax.Array = None
    noise_std: float = 0.3
    max_steps_in_episode: int = 200


class LinearBandit(Bandit):
    """Reward of arm ``a`` is ``features[a] @ theta + N(0, noise_std**2)``.

    The arm features are drawn once, from ``N(0, I/dim)`` with ``feature_seed``;
    each task draws ``theta ~ N(0, I/dim)`` (Lin, Bai & Mei 2023 setting). The
    train and test splits are independent streams of that distribution.
    """

    def __init__(
        self,
        dim: int = 2,
        num_arms: int = 10,
        horizon: int = 200,
        noise_std: float = 0.3,
        feature_seed: int = 0,
    ):
        super().__init__(num_arms, horizon)
        self.dim = check_positive_int("dim", dim)
        if not noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {noise_std!r}")
        self.noise_std = float(noise_std)
        self.features = jax.random.normal(
            jax.random.PRNGKey(feature_seed), (self.num_arms, self.dim)
        ) / jnp.sqrt(self.dim)

    def _params(self, theta) -> LinearBanditParams:
        return LinearBanditParams(
            features=self.features,
            theta=theta,
            noise_std=self.noise_std,
            max_steps_in_episode=self.horizon,
        )

    @property
    def default_params(self) -> LinearBanditParams:
        return self._params(jnp.ones((self.dim,), jnp.float32) / jnp.sqrt(self.dim))

    def sample_tasks(self, key, num_tasks: int, split: str = "train") -> LinearBanditParams:
        num_tasks = check_positive_int("num_tasks", num_tasks)
        theta = jax.random.normal(split_key(key, split), (num_tasks, self.dim)) / jnp.sqrt(self.dim)
        return jax.vmap(self._params)(theta)

    def _sample_reward(self, key, params, action):
        return params.features[action] @ params.theta + params.noise_std * jax.random.normal(key)

    @property
    def name(self) -> str:
        return "linear-bandit"

    def expected_rewards(self, params) -> jax.Array:
        """``(num_arms,)``"""
        return params.features @ params.theta
