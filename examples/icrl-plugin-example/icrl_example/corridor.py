"""Dark Corridor: a one-dimensional Dark Room. The agent starts in a cell of ``size`` and sees only its
own cell; every step on the hidden goal cell pays 1. Actions: 0 left, 1 right, 2 stay.

A task is a (start, goal) pair (in ``EnvParams``, so a batch of tasks is one pytree that ``vmap``
runs); the ``size**2`` pairs are split once, by a fixed permutation, a quarter of them held out.
Every cell is a goal and a start in training, so a held-out task is a pair never seen together.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from envs import TaskEnvironment, check_positive_int
from envs.base import check_split

MOVES = jnp.array([-1, 1, 0], jnp.int32)


@struct.dataclass
class CorridorState(environment.EnvState):
    pos: jax.Array
    time: jax.Array


@struct.dataclass
class CorridorParams(environment.EnvParams):
    """One task: ``start: () int32`` and ``goal: () int32``."""

    start: jax.Array = None
    goal: jax.Array = None
    max_steps_in_episode: int = 20


class DarkCorridor(TaskEnvironment):
    def __init__(self, size: int = 9, horizon: int = 12):
        super().__init__()
        self.size = check_positive_int("size", size, 2)
        self.horizon = check_positive_int("horizon", horizon)
        pairs = np.stack(np.meshgrid(np.arange(self.size), np.arange(self.size), indexing="ij"), -1).reshape(-1, 2)
        order = np.random.default_rng(0).permutation(len(pairs))
        cut = (3 * len(pairs)) // 4
        self._tasks = {"train": pairs[np.sort(order[:cut])], "test": pairs[np.sort(order[cut:])], "all": pairs}

    @property
    def name(self) -> str:
        return "corridor"

    @property
    def num_actions(self) -> int:
        return 3

    # --- tasks --------------------------------------------------------------
    def _params(self, task):
        task = jnp.asarray(task, jnp.int32)
        return CorridorParams(start=task[0], goal=task[1], max_steps_in_episode=self.horizon)

    @property
    def default_params(self):
        return self._params(np.array([0, self.size - 1]))

    def num_tasks_in(self, split: str) -> int:
        return len(self._tasks[check_split(split)])

    def task_pool(self, split: str = "train"):
        return jax.vmap(self._params)(jnp.asarray(self._tasks[check_split(split)]))

    def sample_tasks(self, key, num_tasks: int, split: str = "train"):
        tasks = jnp.asarray(self._tasks[check_split(split)])
        return jax.vmap(self._params)(tasks[jax.random.randint(key, (num_tasks,), 0, tasks.shape[0])])

    # --- dynamics ------------------------------------------------------------
    def reset_env(self, key, params):
        state = CorridorState(pos=params.start, time=jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        pos = jnp.clip(state.pos + MOVES[action], 0, self.size - 1)
        state = CorridorState(pos=pos, time=state.time + 1)
        return self.get_obs(state), state, (pos == params.goal).astype(jnp.float32), jnp.array(False), {}

    def get_obs(self, state, params=None, key=None):
        return state.pos[None]  # (1,) int32

    def action_space(self, params=None):
        return spaces.Discrete(3)

    def observation_space(self, params=None):
        return spaces.Box(0, self.size - 1, (1,), jnp.int32)

    # what a model sees of an observation: the cell one-hot
    @property
    def obs_feature_dim(self) -> int:
        return self.size

    def obs_features(self, obs):
        return jax.nn.one_hot(obs[..., 0], self.size)

    # --- oracles --------------------------------------------------------------
    def _towards(self, pos, goal):
        return jnp.where(goal < pos, 0, jnp.where(goal > pos, 1, 2)).astype(jnp.int32)

    def optimal_action(self, state, params):
        return self._towards(state.pos, params.goal)

    def optimal_return(self, params):
        """Every step from the arrival on: ``horizon - d + 1`` for a goal ``d >= 1`` cells away."""
        d = jnp.abs(params.goal - params.start)
        return jnp.where(d == 0, self.horizon, jnp.maximum(self.horizon - d + 1, 0)).astype(jnp.float32)

    def oracle_act(self, memory, obs, params):
        return self._towards(obs[0], params.goal)

    def transition_reward(self, obs, action, next_obs, params, memory=None):
        """The reward task ``params`` pays for ``obs --action--> next_obs``: with ``task_pool``, what PSRL and the
        exact posterior need to weigh every goal against what was seen."""
        return (next_obs[..., 0] == params.goal).astype(jnp.float32)

    # DPT's query states and their labels
    def sample_query_obs(self, key, shape=()):
        return jax.random.randint(key, tuple(shape) + (1,), 0, self.size, jnp.int32)

    def optimal_action_for_obs(self, obs, params):
        return self._towards(obs[..., 0], params.goal)
