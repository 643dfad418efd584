"""DICP's objective: AD's windows and action loss, plus the reward and next state each action led to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from icrl import planning
from train.methods.ad.objective import ADObjective


@dataclass(frozen=True)
class DICPObjective(ADObjective):
    """DICP (Son et al. 2025): AD's windows and action loss, plus at every position the reward
    class and next state the source's action led to, scored on that action's heads of the
    model's output (:func:`icrl.planning.dynamics_loss`, weighted by ``dynamics_weight``).
    ``obs_to_index`` maps observations to the ``num_states`` state indices (a grid world's cells);
    rewards are the grid worlds' 0 or 1."""

    num_states: int = 0
    obs_to_index: Any = None
    dynamics_weight: float = 1.0
    kind = "dicp"

    def __post_init__(self):
        super().__post_init__()
        if self.num_states < 1 or self.obs_to_index is None:
            raise ValueError(f"DICP needs the environment's states (num_states >= 1 and obs_to_index), got "
                             f"num_states={self.num_states!r}")
        if self.dynamics_weight < 0:
            raise ValueError(f"dynamics_weight must be >= 0, got {self.dynamics_weight!r}")

    @property
    def num_outputs(self) -> int:
        return planning.num_outputs(self.spec.num_actions, self.num_states)

    def labels(self, h):
        return planning.DynamicsLabels(h.action, (h.reward > 0.5).astype(jnp.int32), self.obs_to_index(h.next_obs))

    def criterion(self, outputs, labels) -> jax.Array:
        return planning.dynamics_loss(outputs, labels, self.spec.num_actions, self.num_states, self.dynamics_weight)
