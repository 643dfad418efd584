"""Dark Room: find a hidden goal cell, seeing only your own position."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from envs.grid import MOVES, GridWorld, all_cells, greedy_step_towards, move


@struct.dataclass
class DarkRoomState(environment.EnvState):
    pos: jax.Array
    time: jax.Array


@struct.dataclass
class DarkRoomParams(environment.EnvParams):
    """One task: ``goal: (2,) int32``."""

    goal: jax.Array = None
    max_steps_in_episode: int = 100


class DarkRoom(GridWorld):
    """Reward 1 for every step that ends on the goal cell; observation ``(x, y)`` int32.

    The episode does **not** end at the goal: it always lasts ``horizon`` steps
    (as in DPT's Dark Room), so the best policy walks to the goal and stays
    there, the return measures how fast the goal was found, and multi-episode
    histories have a static shape. Actions: up, down, right, left, stay. Every
    cell may be the goal; the ``size**2`` goals are split 80/20 into train/test.
    """

    def __init__(self, size: int = 10, horizon: int = 100, **kwargs):
        super().__init__(size, horizon, **kwargs)

    @property
    def name(self) -> str:
        return "darkroom"

    def _all_tasks(self):
        return all_cells(self.size)

    def _params(self, task):
        return DarkRoomParams(goal=task, max_steps_in_episode=self.horizon)

    @property
    def default_params(self):
        return self._params(jnp.array([self.size - 1, self.size - 1], jnp.int32))

    def reset_env(self, key, params):
        state = DarkRoomState(pos=self.start_pos(), time=jnp.zeros((), jnp.int32))
        return state.pos, state

    def step_env(self, key, state, action, params):
        pos = move(state.pos, action, self.size)
        reward = jnp.all(pos == params.goal).astype(jnp.float32)
        state = DarkRoomState(pos=pos, time=state.time + 1)
        return pos, state, reward, jnp.array(False), {}

    def get_obs(self, state, params=None, key=None):
        return state.pos

    def state_space(self, params=None):
        return spaces.Dict(
            {"pos": spaces.Box(0, self.size - 1, (2,), jnp.int32), "time": spaces.Discrete(self.horizon + 1)}
        )

    def optimal_action(self, state, params):
        """Shortest-path action from ``state.pos`` to the goal (stay on it)."""
        return greedy_step_towards(state.pos, params.goal)

    def sample_query_obs(self, key, shape=()):
        return jax.random.randint(key, tuple(shape) + (2,), 0, self.size, jnp.int32)

    def optimal_action_for_obs(self, obs, params):
        return greedy_step_towards(obs, params.goal)

    def transition_reward(self, obs, action, next_obs, params, memory=None):
        """The reward task ``params`` gives for ``obs --action--> next_obs`` (no memory needed)."""
        return jnp.all(next_obs == params.goal).astype(jnp.float32)

    def oracle_act(self, memory, obs, params):
        return greedy_step_towards(obs, params.goal)

    def best_return_to_go(self, obs, memory, steps_left, params) -> jax.Array:
        """The most reward ``steps_left`` more steps can collect from ``obs``: on the goal, every step;
        ``d`` moves away, the step that arrives and every one after it."""
        d = jnp.abs(obs - params.goal).sum()
        return jnp.where(d == 0, steps_left, jnp.maximum(steps_left - d + 1, 0)).astype(jnp.float32)

    def _planning_tables(self, params):
        cells = jnp.asarray(all_cells(self.size))
        nxt = jnp.clip(cells[:, None, :] + MOVES[None], 0, self.size - 1)
        next_state = self.obs_to_index(nxt)
        reward = jnp.all(nxt == params.goal, axis=-1).astype(jnp.float32)
        return next_state, reward, self.obs_to_index(self.start_pos())
