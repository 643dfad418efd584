"""Bandits: one dummy state, one pull per step; the task fixes every arm's expected reward."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from envs.base import TaskEnvironment, check_positive_int, check_split

_SPLIT_INDEX = {"train": 0, "test": 1, "all": 2}


@struct.dataclass
class BanditState(environment.EnvState):
    time: jax.Array


@struct.dataclass
class BanditParams(environment.EnvParams):
    """One task: ``means: (num_arms,) float32``; ``noise_std`` is used by Gaussian arms."""

    means: jax.Array = None
    noise_std: float = 0.0
    max_steps_in_episode: int = 500


def split_key(key: jax.Array, split: str) -> jax.Array:
    """Key of a split's task stream: the same ``key`` never yields a train task as a test task."""
    return jax.random.fold_in(key, _SPLIT_INDEX[check_split(split)])


class Bandit(TaskEnvironment):
    """Shared base of every bandit: a single dummy state, ``num_arms`` actions, episodes of
    ``horizon`` pulls; state, spaces and oracles all follow from :meth:`expected_rewards`.

    A subclass gives ``expected_rewards(params)``, ``_sample_reward(key, params, action)``,
    ``default_params``, ``sample_tasks`` and ``name``.
    """

    def __init__(self, num_arms: int, horizon: int):
        super().__init__()
        self.num_arms = check_positive_int("num_arms", num_arms, 2)
        self.horizon = check_positive_int("horizon", horizon)

    def expected_rewards(self, params) -> jax.Array:
        """Expected reward of every arm: ``(num_arms,)``."""
        raise NotImplementedError

    def _sample_reward(self, key, params, action) -> jax.Array:
        raise NotImplementedError

    # --- gymnax API -----------------------------------------------------------
    def reset_env(self, key, params) -> tuple[jax.Array, BanditState]:
        state = BanditState(time=jnp.zeros((), jnp.int32))
        return self.get_obs(state, params), state

    def step_env(self, key, state, action, params):
        reward = self._sample_reward(key, params, action)
        state = BanditState(time=state.time + 1)
        return self.get_obs(state, params), state, reward, jnp.array(False), {}

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        return jnp.zeros((1,), jnp.float32)

    @property
    def num_actions(self) -> int:
        return self.num_arms

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_arms)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 0.0, (1,), jnp.float32)

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict({"time": spaces.Discrete(self.horizon + 1)})

    # --- oracles --------------------------------------------------------------
    def _best_arm(self, params) -> jax.Array:
        return jnp.argmax(self.expected_rewards(params)).astype(jnp.int32)

    def optimal_action(self, state, params) -> jax.Array:
        return self._best_arm(params)

    def optimal_return(self, params) -> jax.Array:
        return self.horizon * jnp.max(self.expected_rewards(params))

    def oracle_act(self, memory, obs, params) -> jax.Array:
        return self._best_arm(params)

    def sample_query_obs(self, key, shape=()):
        return jnp.zeros(tuple(shape) + (1,), jnp.float32)

    def optimal_action_for_obs(self, obs, params):
        return self._best_arm(params)


class MultiArmedBandit(Bandit):
    """Independent arms whose means are the task.

    Task distribution: means i.i.d. ``U[mean_low, mean_high]`` per arm (``U[0, 1]``
    as in DPT). The train and test splits are independent streams of that
    continuous distribution (see :func:`split_key`), so they share no task with
    probability one.
    """

    def __init__(
        self,
        num_arms: int = 5,
        horizon: int = 500,
        mean_low: float = 0.0,
        mean_high: float = 1.0,
    ):
        super().__init__(num_arms, horizon)
        if not mean_low < mean_high:
            raise ValueError(
                f"need mean_low < mean_high, got mean_low={mean_low!r}, mean_high={mean_high!r}"
            )
        self.mean_low = float(mean_low)
        self.mean_high = float(mean_high)

    def _params(self, means: jax.Array) -> BanditParams:
        raise NotImplementedError

    @property
    def default_params(self) -> BanditParams:
        return self._params(jnp.linspace(0.1, 0.9, self.num_arms, dtype=jnp.float32))

    def sample_tasks(self, key, num_tasks: int, split: str = "train") -> BanditParams:
        num_tasks = check_positive_int("num_tasks", num_tasks)
        means = jax.random.uniform(
            split_key(key, split),
            (num_tasks, self.num_arms),
            minval=self.mean_low,
            maxval=self.mean_high,
        )
        return jax.vmap(self._params)(means)

    def expected_rewards(self, params) -> jax.Array:
        return params.means


class BernoulliBandit(MultiArmedBandit):
    """Rewards in {0, 1} with probability ``means[action]``."""

    def _params(self, means):
        return BanditParams(means=means, noise_std=0.0, max_steps_in_episode=self.horizon)

    def _sample_reward(self, key, params, action):
        return jax.random.bernoulli(key, params.means[action]).astype(jnp.float32)

    @property
    def name(self) -> str:
        return "bernoulli-bandit"


class GaussianBandit(MultiArmedBandit):
    """Rewards ``N(means[action], noise_std**2)``."""

    def __init__(self, num_arms: int = 5, horizon: int = 500, noise_std: float = 0.3, **kwargs: Any):
        super().__init__(num_arms, horizon, **kwargs)
        if not noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {noise_std!r}")
        self.noise_std = float(noise_std)

    def _params(self, means):
        return BanditParams(
            means=means, noise_std=self.noise_std, max_steps_in_episode=self.horizon
        )

    def _sample_reward(self, key, params, action):
        return params.means[action] + params.noise_std * jax.random.normal(key)

    @property
    def name(self) -> str:
        return "gaussian-bandit"
