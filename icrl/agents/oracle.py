"""The oracle: knows the task and plays optimally, using the environment's oracle hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flax import struct


@struct.dataclass
class OracleState:
    env_params: Any
    memory: Any


@dataclass(frozen=True)
class OracleAgent:
    """Optimal actions from observations; ``env`` is an ``envs.TaskEnvironment``.

    Its regret is zero by construction, which the tests use as a check of the
    whole rollout pipeline.
    """

    env: Any

    def __post_init__(self):
        if not hasattr(self.env, "oracle_act"):
            raise ValueError(f"no oracle for environment {getattr(self.env, 'name', self.env)!r}: it has no oracle_act")

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def init(self, key, env_params) -> OracleState:
        return OracleState(env_params, self.env.oracle_init(env_params))

    def act(self, key, state: OracleState, obs):
        return self.env.oracle_act(state.memory, obs, state.env_params), state

    def update(self, state: OracleState, transition) -> OracleState:
        return state.replace(memory=self.env.oracle_update(state.memory, transition, state.env_params))
