"""Exact Bayesian baselines over a finite task pool: what DPT's pretraining targets, and PSRL.

With a uniform prior over a finite pool of tasks whose rewards are deterministic
(Dark Room: one goal cell out of ``size**2``; Key-to-Door: an ordered pair of
cells), the posterior after any history is uniform over the tasks that agree with
every observed reward. Each task of the pool keeps the memory its oracle keeps
(Key-to-Door: whether the key is held), so rewards and optimal actions are
predicted per task from the environment's ``transition_reward`` and oracle hooks. Two agents act on it:

- ``mode="action"``: sample the action from ``P(a is optimal in obs | history)``.
  This is the minimiser of DPT's cross-entropy loss under that prior, so it is
  the policy a DPT pretrained on the pool converges to with unlimited data and
  capacity, and the ceiling to read a trained DPT's in-context returns against.
- ``mode="episode"``: posterior sampling for RL (PSRL, Osband et al. 2013): draw
  one task from the posterior and follow its optimal policy; draw again when an
  episode starts or when the drawn task is ruled out.

``context="episode"`` updates the posterior at episode ends only (from every
transition of the episode), as a DPT deployed with an episode-frozen context
sees its history: with ``mode="action"`` it is the policy such a DPT converges
to, the ceiling for that deployment.

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
CONTEXTS = ("step", "episode")


def uniform_choice(key, mask: jax.Array) -> jax.Array:
    """An index drawn uniformly among the ``True`` entries of ``mask`` (index 0 if none): one
    random number and a running count, where a categorical draw takes one per entry."""
    count = jnp.cumsum(mask.astype(jnp.int32))
    pick = jax.random.randint(key, (), 0, jnp.maximum(count[-1], 1))
    return jnp.where(count[-1] > 0, jnp.searchsorted(count, pick, side="right"), 0).astype(jnp.int32)


@struct.dataclass
class PosteriorState:
    consistent: jax.Array  # (num_tasks,) bool: pool tasks that agree with every reward the posterior has taken in
    sample: jax.Array  # () int32: PSRL's drawn task
    resample: jax.Array  # () bool: draw again before the next action
    pending: jax.Array  # (num_tasks,) bool: context="episode": also agreeing with the current episode so far
    memory: Any  # (num_tasks, ...): each pool task's oracle memory (Key-to-Door: its phase)


@dataclass(frozen=True)
class TaskPosteriorAgent:
    """``env``: an ``envs.TaskEnvironment`` with ``task_pool``, ``transition_reward`` and the
    oracle hooks; ``split``: the pool the prior is uniform over."""

    env: Any
    split: str = "all"
    mode: str = "action"
    context: str = "step"

    def __post_init__(self):
        check_split(self.split)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {self.context!r}")
        for hook in ("task_pool", "transition_reward", "oracle_act"):
            if not hasattr(self.env, hook):
                raise ValueError(f"a task posterior needs a finite task pool; environment {self.env.name!r} has no {hook}")

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def _pool(self):
        return self.env.task_pool(self.split)

    def init(self, key, env_params=None) -> PosteriorState:
        size = self.env.num_tasks_in(self.split)
        memory = jax.vmap(self.env.oracle_init)(self._pool())
        return PosteriorState(jnp.ones(size, bool), jnp.zeros((), jnp.int32), jnp.array(True), jnp.ones(size, bool), memory)

    def _optimal_actions(self, state: PosteriorState, obs):
        return jax.vmap(self.env.oracle_act, in_axes=(0, None, 0))(state.memory, obs, self._pool())  # (num_tasks,)

    def action_probs(self, state: PosteriorState, obs) -> jax.Array:
        """``P(a is optimal in obs | history)``, ``(num_actions,)``; uniform once no task is left."""
        counts = (jax.nn.one_hot(self._optimal_actions(state, obs), self.num_actions) * state.consistent[:, None]).sum(0)
        total = counts.sum()
        return jnp.where(total > 0, counts / jnp.maximum(total, 1), 1.0 / self.num_actions)

    def act(self, key, state: PosteriorState, obs):
        k_sample, k_act = jax.random.split(key)
        if self.mode == "action":
            return jax.random.categorical(k_act, jnp.log(self.action_probs(state, obs))).astype(jnp.int32), state
        any_left = state.consistent.any()
        drawn = uniform_choice(k_sample, state.consistent)
        sample = jnp.where(state.resample, drawn, state.sample)
        take = lambda tree: jax.tree.map(lambda x: x[sample], tree)  # noqa: E731
        optimal = self.env.oracle_act(take(state.memory), obs, take(self._pool()))  # the drawn task's alone
        action = jnp.where(any_left, optimal, jax.random.randint(k_act, (), 0, self.num_actions))
        return action.astype(jnp.int32), state.replace(sample=sample.astype(jnp.int32), resample=jnp.array(False))

    def update(self, state: PosteriorState, transition: Transition) -> PosteriorState:
        pool = self._pool()
        predicted = jax.vmap(self.env.transition_reward, in_axes=(None, None, None, 0, 0))(
            transition.obs, transition.action, transition.next_obs, pool, state.memory
        )
        memory = jax.vmap(self.env.oracle_update, in_axes=(0, None, 0))(state.memory, transition, pool)
        done = jnp.asarray(transition.done, bool)
        if self.context == "episode":  # take the episode in at its end
            pending = state.pending & (predicted == transition.reward)
            consistent = jnp.where(done, pending, state.consistent)
        else:
            pending = consistent = state.consistent & (predicted == transition.reward)
        resample = done | ~consistent[state.sample]
        return state.replace(consistent=consistent, resample=resample, pending=pending, memory=memory)
