"""Dark Key-to-Door: find a hidden key, then a hidden door, seeing only your position."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from envs.grid import STAY, GridWorld, all_cells, greedy_step_towards, move

# Phases of an episode: looking for the key, carrying it, door opened.
NO_KEY, HAS_KEY, DONE = 0, 1, 2


@struct.dataclass
class KeyToDoorState(environment.EnvState):
    pos: jax.Array
    phase: jax.Array
    time: jax.Array


@struct.dataclass
class KeyToDoorParams(environment.EnvParams):
    """One task: ``key_pos: (2,) int32`` and ``door_pos: (2,) int32`` (distinct cells)."""

    key_pos: jax.Array = None
    door_pos: jax.Array = None
    max_steps_in_episode: int = 50


class DarkKeyToDoor(GridWorld):
    """Reward 1 for first stepping onto the key, 1 more for then reaching the door.

    Observation: ``(x, y)`` int32 only, so whether the key is held must be
    remembered from the rewards. The episode always lasts ``horizon`` steps
    (nothing more to earn after the door) so histories keep a static shape;
    the best return is 2. Tasks are ordered pairs of distinct cells, split
    80/20 into train/test. Defaults follow AD: a 9×9 room, 50 steps.
    """

    #: Rewards seen so far in an episode tell a tabular learner the phase (see QLearningAgent).
    num_reward_phases = 3

    def __init__(self, size: int = 9, horizon: int = 50, **kwargs):
        super().__init__(size, horizon, **kwargs)

    @property
    def name(self) -> str:
        return "keydoor"

    def _all_tasks(self):
        n = self.size * self.size
        key_idx, door_idx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        keep = key_idx != door_idx
        k, d = key_idx[keep], door_idx[keep]
        return np.stack([k // self.size, k % self.size, d // self.size, d % self.size], axis=1).astype(np.int32)

    def _params(self, task):
        return KeyToDoorParams(key_pos=task[:2], door_pos=task[2:], max_steps_in_episode=self.horizon)

    @property
    def default_params(self):
        s = self.size - 1
        return self._params(jnp.array([0, s, s, 0], jnp.int32))

    def reset_env(self, key, params):
        state = KeyToDoorState(
            pos=self.start_pos(), phase=jnp.array(NO_KEY, jnp.int32), time=jnp.zeros((), jnp.int32)
        )
        return state.pos, state

    def _transition(self, pos, phase, action, params):
        pos = move(pos, action, self.size)
        got_key = (phase == NO_KEY) & jnp.all(pos == params.key_pos)
        opened = (phase == HAS_KEY) & jnp.all(pos == params.door_pos)
        reward = (got_key | opened).astype(jnp.float32)
        return pos, phase + reward.astype(jnp.int32), reward

    def step_env(self, key, state, action, params):
        pos, phase, reward = self._transition(state.pos, state.phase, action, params)
        state = KeyToDoorState(pos=pos, phase=phase, time=state.time + 1)
        return pos, state, reward, jnp.array(False), {}

    def get_obs(self, state, params=None, key=None):
        return state.pos

    def state_space(self, params=None):
        return spaces.Dict(
            {
                "pos": spaces.Box(0, self.size - 1, (2,), jnp.int32),
                "phase": spaces.Discrete(3),
                "time": spaces.Discrete(self.horizon + 1),
            }
        )

    def _act(self, pos, phase, params):
        target = jnp.where(phase == NO_KEY, params.key_pos, params.door_pos)
        return jnp.where(phase == DONE, STAY, greedy_step_towards(pos, target)).astype(jnp.int32)

    def optimal_action(self, state, params):
        """Shortest-path action towards the key, then the door."""
        return self._act(state.pos, state.phase, params)

    # The oracle agent remembers the phase: each reward advances it, an episode end resets it.
    def oracle_act(self, memory, obs, params):
        return self._act(obs, memory, params)

    def best_return_to_go(self, obs, memory, steps_left, params) -> jax.Array:
        """The most reward ``steps_left`` more steps can collect from ``obs`` in phase ``memory``
        (the oracle's): the key if it is reachable in time, then the door. A target the agent
        stands on without its reward (the key at the start) takes one step: staying collects it."""
        def steps_to(a, b):
            return jnp.maximum(jnp.abs(a - b).sum(), 1)

        to_key, to_door = steps_to(obs, params.key_pos), steps_to(obs, params.door_pos)
        no_key = (to_key <= steps_left).astype(jnp.float32) + (to_key + steps_to(params.key_pos, params.door_pos) <= steps_left)
        has_key = (to_door <= steps_left).astype(jnp.float32)
        return jnp.select([memory == NO_KEY, memory == HAS_KEY], [no_key, has_key], 0.0)

    def transition_reward(self, obs, action, next_obs, params, memory):
        """The reward task ``params`` gives for ``obs --action--> next_obs`` in phase ``memory``."""
        got_key = (memory == NO_KEY) & jnp.all(next_obs == params.key_pos)
        opened = (memory == HAS_KEY) & jnp.all(next_obs == params.door_pos)
        return (got_key | opened).astype(jnp.float32)

    def oracle_update(self, memory, transition, params):
        advanced = memory + (transition.reward > 0).astype(jnp.int32)
        return jnp.where(transition.done, NO_KEY, advanced)

    def _planning_tables(self, params):
        n = self.size * self.size
        cells = jnp.asarray(all_cells(self.size))
        phases = jnp.repeat(jnp.arange(3, dtype=jnp.int32), n)
        pos = jnp.tile(cells, (3, 1))
        actions = jnp.arange(5)
        nxt_pos, nxt_phase, reward = jax.vmap(
            lambda p, ph: jax.vmap(lambda a: self._transition(p, ph, a, params))(actions)
        )(pos, phases)
        next_state = nxt_phase * n + self.obs_to_index(nxt_pos)
        return next_state, reward, self.obs_to_index(self.start_pos())

