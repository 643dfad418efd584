"""The pytrees that travel between agents, rollouts, datasets and objectives: one step, a history, training samples."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax


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
      (bandits); ``None`` otherwise (grid worlds, and pretraining datasets).
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    done: jax.Array
    regret: jax.Array | None = None


class Samples(NamedTuple):
    """What a training step samples its batches from, on device: interactions of
    ``num_tasks`` tasks and, for DPT, a query state and its label at every position.

    ``history``: a :class:`History` ``(num_tasks, T, ...)``; ``queries: (num_tasks, T, *obs_shape)``
    and ``labels: (num_tasks, T) int32`` (DPT) or ``None`` (AD: the query is the
    observation, the label the source's action). ``weights: (num_tasks,)``: how often
    each task is drawn, relative to the others (learning-history filtering), or ``None``
    for uniform.
    """

    history: History
    queries: Any = None
    labels: Any = None
    weights: Any = None

    @property
    def num_tasks(self) -> int:
        return int(self.history.action.shape[0])
