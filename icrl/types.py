"""The pytrees that travel between agents, rollouts, datasets and objectives: one step, a history, training samples."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Transition(NamedTuple):
    """One interaction step, as an agent's ``update`` receives it.

    ``next_obs`` is the observation the action led to (before any automatic
    reset); ``done`` marks the last step of an episode.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    done: jax.Array


class History(NamedTuple):
    """What a rollout records, step by step. Shapes for a batch of tasks (``rollout``);
    drop the leading ``num_tasks`` axis for one task (``rollout_task``):

    - ``obs, next_obs: (num_tasks, num_steps, *obs_shape)``: ``next_obs`` is where
      the action led, before the automatic reset at an episode's end;
    - ``action: (num_tasks, num_steps) int32``;
    - ``reward: (num_tasks, num_steps) float32``;
    - ``done: (num_tasks, num_steps) bool``: last step of an episode;
    - ``regret: (num_tasks, num_steps) float32``: best expected reward minus the
      chosen action's, where the environment has ``expected_rewards``
      (bandits); ``None`` otherwise (grid worlds, and pretraining datasets);
    - ``info``: what the agent reports about each step it took (its ``record(state)``
      after acting, e.g. the probability of the action it chose), or ``None`` for an
      agent without ``record``.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    done: jax.Array
    regret: jax.Array | None = None
    info: Any = None


class Samples(NamedTuple):
    """What a training step samples its batches from, on device: interactions of
    ``num_tasks`` tasks and, where the objective has them, a query state and its label at every
    position.

    ``history``: a :class:`History` ``(num_tasks, T, ...)``; ``queries: (num_tasks, T, *obs_shape)``
    and ``labels: (num_tasks, T) int32``, or ``None`` where the query is the observation and
    the label the recorded action. ``weights: (num_tasks,)``: how often each task is drawn,
    relative to the others (learning-history filtering), or ``None`` for uniform.
    ``task: (num_tasks, P) float32``: each task's parameters flattened (:func:`task_vectors`;
    equal rows are the same task), or ``None`` where nothing needs it (a loss that pairs
    windows of one task does: they are not negatives of each other). ``extras``: a dict of
    arrays ``(num_tasks, ...)`` that belong to one method's objective (per-step inputs it adds
    to each token, weights of its own), named by that method, or ``None``.
    """

    history: History
    queries: Any = None
    labels: Any = None
    weights: Any = None
    task: Any = None
    extras: Any = None

    @property
    def num_tasks(self) -> int:
        return int(self.history.action.shape[0])


def task_vectors(tasks: Any, num_tasks: int) -> jax.Array:
    """``(num_tasks, P) float32``: every per-task leaf of a batch of ``EnvParams`` (those with a
    leading axis of ``num_tasks``) flattened and side by side, so two rows are equal exactly when
    the two tasks are (pure and traceable)."""
    leaves = [jnp.reshape(x, (num_tasks, -1)).astype(jnp.float32) for x in jax.tree.leaves(tasks)
              if jnp.ndim(x) >= 1 and jnp.shape(x)[0] == num_tasks]
    if not leaves:
        raise ValueError(f"no leaf of the tasks has a leading axis of {num_tasks} tasks")
    return jnp.concatenate(leaves, axis=1)
