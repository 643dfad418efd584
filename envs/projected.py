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

Several environments make one family (``base="CartPole-v1,Acrobot-v1"``): a task also names which of them it plays
(``env_index``), each seen through a map of its own observation (padded with zeros to the largest) to the same
``obs_size`` features and with its actions folded onto the same ``action_size`` slots. ``held_out`` names bases whose
tasks only the test split draws, so a whole environment can be kept for testing; without it both splits draw every
base.

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
    env_index: jax.Array = 0  # which base environment the task plays
    obs_matrix: jax.Array = None  # (obs_size, d): d the largest base observation
    action_map: jax.Array = None  # (action_size,) int32
    start_key: jax.Array = None  # (2,) uint32 key data of the initial state's key (same_start)
    max_steps_in_episode: int = 200


@struct.dataclass
class ProjectedState:
    time: jax.Array
    inner: tuple  # every base environment's state (each steps; the task's own is the one seen)
    ended: jax.Array  # whether the wrapped environment has ended this episode


class Projected(TaskEnvironment):
    """``base`` (a gymnax name with discrete actions) behind a random observation map and action relabelling per task."""

    def __init__(self, base: str = "CartPole-v1", obs_size: int = 8, action_size: int = 0, projection: str = "orthogonal",
                 horizon: int = 200, keep_obs: tuple[int, ...] = (), same_start: bool = True, held_out: str = ""):
        super().__init__()
        self.base_names = tuple(name.strip() for name in base.split(",") if name.strip())
        held = tuple(name.strip() for name in held_out.split(",") if name.strip())
        if not self.base_names or len(set(self.base_names)) < len(self.base_names):
            raise ValueError(f"base names one or more distinct gymnax environments, got {base!r}")
        for name in self.base_names:
            if name not in gymnax.registered_envs:
                raise ValueError(f"unknown gymnax environment {name!r}; valid: {gymnax.registered_envs}")
        if not set(held) <= set(self.base_names) or len(held) >= len(self.base_names):
            raise ValueError(f"held_out={held_out!r} must name some of the bases {list(self.base_names)}, not all")
        self.bases = tuple(gymnax.make(name) for name in self.base_names)
        for name, (env, params) in zip(self.base_names, self.bases):
            if not isinstance(env.action_space(params), spaces.Discrete):
                raise ValueError(f"{name!r} has continuous actions; the projected family takes discrete ones")
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
        self.base_name, self.projection, self.same_start = base, projection, bool(same_start)
        self.horizon = check_positive_int("horizon", horizon)
        self.obs_size = check_positive_int("obs_size", obs_size)
        self.base_actions = tuple(int(env.num_actions) for env, _ in self.bases)
        self.action_size = check_positive_int("action_size", action_size or max(self.base_actions))
        if self.action_size < max(self.base_actions):
            raise ValueError(f"action_size={action_size} is fewer than {base!r}'s {max(self.base_actions)} actions")
        self.raw_dims = tuple(int(jnp.prod(jnp.array(env.observation_space(params).shape))) for env, params in self.bases)
        if keep_obs and len(self.bases) > 1:
            raise ValueError(f"keep_obs selects features of one environment; {base!r} names {len(self.bases)}")
        self.keep_obs = tuple(int(i) for i in keep_obs) or tuple(range(self.raw_dims[0]))
        if not all(0 <= i < self.raw_dims[0] for i in self.keep_obs):
            raise ValueError(f"keep_obs={keep_obs} must index {base!r}'s {self.raw_dims[0]} observation features")
        # the features each base shows a task: keep_obs of the one base, or every one of each
        self.kept = (self.keep_obs,) if len(self.bases) == 1 else tuple(tuple(range(d)) for d in self.raw_dims)
        self.dims = tuple(len(kept) for kept in self.kept)
        self.split_bases = {"train": tuple(i for i, n in enumerate(self.base_names) if n not in held),
                            "test": tuple(i for i, n in enumerate(self.base_names) if n in held) or tuple(range(len(self.bases))),
                            "all": tuple(range(len(self.bases)))}
        # the wrapper's horizon rules: a base never cuts an episode first
        self.bases = tuple((env, params.replace(max_steps_in_episode=max(self.horizon, 1) + 1)
                            if hasattr(params, "max_steps_in_episode") else params) for env, params in self.bases)

    @property
    def name(self) -> str:
        return "projected"

    @property
    def num_actions(self) -> int:
        return self.action_size

    def _matrix(self, key, d: int) -> jax.Array:
        """``(obs_size, max d)``: a map of ``d`` features, zero on the columns past them."""
        if self.projection == "orthogonal":
            matrix = jax.random.orthogonal(key, max(self.obs_size, d))[: self.obs_size, :d]
        else:
            matrix = jax.random.normal(key, (self.obs_size, d)) / jnp.sqrt(d)
        return jnp.pad(matrix, ((0, 0), (0, max(self.dims) - d)))

    def task(self, seed, env_index=0) -> ProjectedParams:
        """The task of ``seed`` on base ``env_index`` (pure: the same pair gives the same task)."""
        k_obs, k_act, k_start = jax.random.split(jax.random.PRNGKey(seed), 3)
        matrices = jnp.stack([self._matrix(jax.random.fold_in(k_obs, i) if i else k_obs, d) for i, d in enumerate(self.dims)])
        action_map = jax.random.permutation(k_act, self.action_size).astype(jnp.int32)
        return ProjectedParams(seed=jnp.asarray(seed, jnp.int32), env_index=jnp.asarray(env_index, jnp.int32),
                               obs_matrix=matrices[env_index], action_map=action_map,
                               start_key=jax.random.key_data(k_start), max_steps_in_episode=self.horizon)

    @property
    def default_params(self) -> ProjectedParams:
        return self.task(0)

    def sample_tasks(self, key: jax.Array, num_tasks: int, split: str = "train") -> ProjectedParams:
        low, high = SEED_RANGES[check_split(split)]
        num_tasks = check_positive_int("num_tasks", num_tasks)
        k_seed, k_env = jax.random.split(key)
        seeds = jax.random.randint(k_seed, (num_tasks,), low, high)
        choices = jnp.array(self.split_bases[split], jnp.int32)
        return jax.vmap(self.task)(seeds, choices[jax.random.randint(k_env, (num_tasks,), 0, len(choices))])

    @property
    def unknown_optima(self) -> list[str]:
        """The bases whose best return is not known here."""
        return [name for name in self.base_names if name not in MAX_RETURN_PER_STEP]

    @property
    def knows_optimal_return(self) -> bool:
        return not self.unknown_optima

    def optimal_return(self, params) -> jax.Array:
        if self.unknown_optima:
            raise NotImplementedError(f"the best return of {self.unknown_optima} is not known here")
        per_step = jnp.array([MAX_RETURN_PER_STEP[name] for name in self.base_names], jnp.float32)
        return per_step[params.env_index] * self.horizon

    def _observe(self, inner_obs: tuple, params) -> jax.Array:
        """The task's view of its own base's observation (every base's is given; the others are not seen)."""
        width = max(self.dims)
        raw = jnp.stack([jnp.pad(jnp.ravel(obs)[jnp.array(kept)].astype(jnp.float32), (0, width - len(kept)))
                         for obs, kept in zip(inner_obs, self.kept)])[params.env_index]
        return (params.obs_matrix @ raw).astype(jnp.float32)

    def reset_env(self, key, params: ProjectedParams):
        if self.same_start:
            key = jax.random.wrap_key_data(params.start_key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else params.start_key
        pairs = [env.reset_env(key, env_params) for env, env_params in self.bases]
        obs, inner = tuple(o for o, _ in pairs), tuple(s for _, s in pairs)
        return self._observe(obs, params), ProjectedState(jnp.zeros((), jnp.int32), inner, jnp.array(False))

    def step_env(self, key, state: ProjectedState, action, params: ProjectedParams):
        slot = params.action_map[action]
        stepped = [env.step_env(key, inner, slot % n, env_params)
                   for (env, env_params), inner, n in zip(self.bases, state.inner, self.base_actions)]
        obs = tuple(s[0] for s in stepped)
        pick = lambda values: jnp.stack([jnp.asarray(v, jnp.float32) for v in values])[params.env_index]  # noqa: E731
        reward, ended = pick([s[2] for s in stepped]), pick([s[3] for s in stepped]) > 0
        idle = state.ended
        inner = jax.tree.map(lambda old, new: jnp.where(idle, old, new), state.inner, tuple(s[1] for s in stepped))
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
