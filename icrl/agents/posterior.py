"""Exact Bayesian baselines over a finite task pool: what DPT's pretraining targets, and PSRL.

With a uniform prior over a finite pool of tasks whose rewards are deterministic
(Dark Room: one goal cell out of ``size**2``), the posterior after any history is
uniform over the tasks that agree with every observed reward. Two agents act on it:

- ``mode="action"``: sample the action from ``P(a is optimal in obs | history)``.
  This is the minimiser of DPT's cross-entropy loss under that prior, so it is
  the policy a DPT pretrained on the pool converges to with unlimited data and
  capacity, and the ceiling to read a trained DPT's in-context returns against.
- ``mode="episode"``: posterior sampling for RL (PSRL, Osband et al. 2013): draw
  one task from the posterior and follow its optimal policy; draw again when an
  episode starts or when the drawn task is ruled out.

If no task of the pool agrees with the history (a held-out task outside a
``"train"`` prior), both fall back to uniformly random actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs.base import check_split
from icrl.agents.base import Transition

MODES = ("action", "episode")


@struct.dataclass
class PosteriorState:
    consistent: jax.Array  # (num_tasks,) bool: pool tasks that agree with every reward seen
    sample: jax.Array  # () int32: PSRL's drawn task
    resample: jax.Array  # () bool: draw again before the next action


@dataclass(frozen=True)
class TaskPosteriorAgent:
    """``env``: an ``envs.TaskEnvironment`` with ``task_pool``, ``transition_reward`` and
    ``optimal_action_for_obs``; ``split``: the pool the prior is uniform over."""

    env: Any
    split: str = "all"
    mode: str = "action"

    def __post_init__(self):
        check_split(self.split)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for hook in ("task_pool", "transition_reward", "optimal_action_for_obs"):
            if not hasattr(self.env, hook):
                raise ValueError(f"a task posterior needs a finite task pool; environment {self.env.name!r} has no {hook}")

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def _pool(self):
        return self.env.task_pool(self.split)

    def init(self, key, env_params=None) -> PosteriorState:
        size = self.env.num_tasks_in(self.split)
        return PosteriorState(jnp.ones(size, bool), jnp.zeros((), jnp.int32), jnp.array(True))

    def _optimal_actions(self, obs):
        return jax.vmap(self.env.optimal_action_for_obs, in_axes=(None, 0))(obs, self._pool())  # (num_tasks,)

    def action_probs(self, state: PosteriorState, obs) -> jax.Array:
        """``P(a is optimal in obs | history)``, ``(num_actions,)``; uniform once no task is left."""
        counts = (jax.nn.one_hot(self._optimal_actions(obs), self.num_actions) * state.consistent[:, None]).sum(0)
        total = counts.sum()
        return jnp.where(total > 0, counts / jnp.maximum(total, 1), 1.0 / self.num_actions)

    def act(self, key, state: PosteriorState, obs):
        k_sample, k_act = jax.random.split(key)
        if self.mode == "action":
            return jax.random.categorical(k_act, jnp.log(self.action_probs(state, obs))).astype(jnp.int32), state
        optimal, any_left = self._optimal_actions(obs), state.consistent.any()
        drawn = jax.random.categorical(k_sample, jnp.where(state.consistent, 0.0, -jnp.inf))
        sample = jnp.where(state.resample, drawn, state.sample)
        action = jnp.where(any_left, optimal[sample], jax.random.randint(k_act, (), 0, self.num_actions))
        return action.astype(jnp.int32), state.replace(sample=sample.astype(jnp.int32), resample=jnp.array(False))

    def update(self, state: PosteriorState, transition: Transition) -> PosteriorState:
        predicted = jax.vmap(self.env.transition_reward, in_axes=(None, None, None, 0))(
            transition.obs, transition.action, transition.next_obs, self._pool()
        )
        consistent = state.consistent & (predicted == transition.reward)
        resample = jnp.asarray(transition.done, bool) | ~consistent[state.sample]
        return state.replace(consistent=consistent, resample=resample)
