"""Any gymnax environment with discrete actions as a family of tasks: each task sees the environment through a random
linear map of its observation and a random relabelling of its actions (the S5 paper's randomly projected control
tasks, Lu et al. 2023).

A task is a seed. From it come ``obs_matrix (obs_size, d)``, a map of the environment's ``d`` observation features
(those of ``keep_obs``, or all) to ``obs_size`` features, orthogonal (rows or columns orthonormal, whichever the shape
allows) or Gaussian (entries N(0, 1/d)); ``action_map (action_size,)``, a random permutation of ``action_size`` slots
folded onto the environment's actions (slot ``a`` plays action ``action_map[a] % n``); and, with ``same_start``, the
key of the environment's initial state, so every episode of a task starts alike (popjaxrl's trials), or else each
episode draws its own start. The train and test splits draw seeds from disjoint ranges, so no test task is a training
one, and a seed gives the same task everywhere.

Episodes last ``horizon`` steps whatever the environment does, so rollouts of many episodes have a static shape:
after the environment ends an episode (a pole falls), the rest of it idles, with zero reward and a zero observation.
A trial of K episodes of one task is ``rollout(..., num_episodes=K)``, as in the grid rooms.
"""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from envs.base import TaskEnvironment, check_positive_int, check_split

PROJECTIONS = ("orthogonal", "gaussian")
#: Task seeds of each split: train and test are disjoint ranges of int32.
SEED_RANGES = {"train": (0, 2**30), "test": (2**30, 2**31 - 1), "all": (0, 2**31 - 1)}
#: The most an episode of ``horizon`` steps can earn, where it is known: one per step kept up.
MAX_RETURN_PER_STEP = {"CartPole-v1": 1.0}


@struct.dataclass
class ProjectedParams(environment.EnvParams):
    seed: jax.Array = 0
    obs_matrix: jax.Array = None  # (obs_size, d)
    action_map: jax.Array = None  # (action_size,) int32
    start_key: jax.Array = None  # (2,) uint32 key data of the initial state's key (same_start)
    max_steps_in_episode: int = 200


@struct.dataclass
class ProjectedState:
    time: jax.Array
    inner: environment.EnvState  # the wrapped environment's state
    ended: jax.Array  # whether the wrapped environment has ended this episode


class Projected(TaskEnvironment):
    """``base`` (a gymnax name with discrete actions) behind a random observation map and action relabelling per task."""

    def __init__(self, base: str = "CartPole-v1", obs_size: int = 8, action_size: int = 0, projection: str = "orthogonal",
                 horizon: int = 200, keep_obs: tuple[int, ...] = (), same_start: bool = True):
        super().__init__()
        if base not in gymnax.registered_envs:
            raise ValueError(f"unknown gymnax environment {base!r}; valid: {gymnax.registered_envs}")
        self.base, self.inner_params = gymnax.make(base)
        if not isinstance(self.base.action_space(self.inner_params), spaces.Discrete):
            raise ValueError(f"{base!r} has continuous actions; the projected family takes discrete ones")
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
        self.base_name, self.projection, self.same_start = base, projection, bool(same_start)
        self.horizon = check_positive_int("horizon", horizon)
        self.obs_size = check_positive_int("obs_size", obs_size)
        self.base_actions = int(self.base.num_actions)
        self.action_size = check_positive_int("action_size", action_size or self.base_actions)
        if self.action_size < self.base_actions:
            raise ValueError(f"action_size={action_size} is fewer than {base!r}'s {self.base_actions} actions")
        raw = int(jnp.prod(jnp.array(self.base.observation_space(self.inner_params).shape)))
        self.keep_obs = tuple(int(i) for i in keep_obs) or tuple(range(raw))
        if not all(0 <= i < raw for i in self.keep_obs):
            raise ValueError(f"keep_obs={keep_obs} must index {base!r}'s {raw} observation features")
        if hasattr(self.inner_params, "max_steps_in_episode"):  # the wrapper's horizon rules: the base never cuts first
            self.inner_params = self.inner_params.replace(max_steps_in_episode=max(self.horizon, 1) + 1)

    @property
    def name(self) -> str:
        return "projected"

    @property
    def num_actions(self) -> int:
        return self.action_size

    def task(self, seed) -> ProjectedParams:
        """The task of ``seed`` (pure: the same seed gives the same task)."""
        k_obs, k_act, k_start = jax.random.split(jax.random.PRNGKey(seed), 3)
        d = len(self.keep_obs)
        if self.projection == "orthogonal":
            n = max(self.obs_size, d)
            matrix = jax.random.orthogonal(k_obs, n)[: self.obs_size, :d]
        else:
            matrix = jax.random.normal(k_obs, (self.obs_size, d)) / jnp.sqrt(d)
        action_map = jax.random.permutation(k_act, self.action_size).astype(jnp.int32)
        return ProjectedParams(seed=jnp.asarray(seed, jnp.int32), obs_matrix=matrix, action_map=action_map,
                               start_key=jax.random.key_data(k_start), max_steps_in_episode=self.horizon)

    @property
    def default_params(self) -> ProjectedParams:
        return self.task(0)

    def sample_tasks(self, key: jax.Array, num_tasks: int, split: str = "train") -> ProjectedParams:
        low, high = SEED_RANGES[check_split(split)]
        seeds = jax.random.randint(key, (check_positive_int("num_tasks", num_tasks),), low, high)
        return jax.vmap(self.task)(seeds)

    def optimal_return(self, params) -> jax.Array:
        if self.base_name not in MAX_RETURN_PER_STEP:
            raise NotImplementedError(f"the best return of {self.base_name!r} is not known here")
        return jnp.full(jnp.shape(params.seed), MAX_RETURN_PER_STEP[self.base_name] * self.horizon, jnp.float32)

    def _observe(self, inner_obs, params) -> jax.Array:
        kept = jnp.ravel(inner_obs)[jnp.array(self.keep_obs)]
        return (params.obs_matrix @ kept.astype(jnp.float32)).astype(jnp.float32)

    def reset_env(self, key, params: ProjectedParams):
        if self.same_start:
            key = jax.random.wrap_key_data(params.start_key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else params.start_key
        obs, inner = self.base.reset_env(key, self.inner_params)
        return self._observe(obs, params), ProjectedState(jnp.zeros((), jnp.int32), inner, jnp.array(False))

    def step_env(self, key, state: ProjectedState, action, params: ProjectedParams):
        inner_action = params.action_map[action] % self.base_actions
        obs, inner, reward, ended, _ = self.base.step_env(key, state.inner, inner_action, self.inner_params)
        idle = state.ended
        inner = jax.tree.map(lambda old, new: jnp.where(idle, old, new), state.inner, inner)
        ended = idle | ended
        out = jnp.where(ended, 0.0, self._observe(obs, params))
        state = ProjectedState(state.time + 1, inner, ended)
        return out, state, jnp.where(idle, 0.0, reward).astype(jnp.float32), jnp.array(False), {}

    def get_obs(self, state, params=None, key=None):
        raise NotImplementedError("the observation comes from the wrapped environment's step")

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.action_size)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1e6, 1e6, (self.obs_size,), jnp.float32)

    def is_terminal(self, state, params) -> jax.Array:
        return state.time >= self.horizon
