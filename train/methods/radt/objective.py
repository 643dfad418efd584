"""RA-DT's objective: the source's actions on a window of its history, behind chunks retrieved from before the window."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from icrl.models.tokens import TokenSpec
from icrl.objectives import Weighted, any_step_windows, sample_tasks, step_windows
from icrl.types import Samples


@dataclass(frozen=True)
class RADTObjective:
    """Retrieval-augmented decision transformer (RA-DT, Schmied et al. 2024) on learning histories:
    predict the source's action at every position of a window of ``context_episodes`` episodes
    that begins at any step (or of ``window_steps`` steps, beginning at every step it fits after
    alike), behind ``memory.prefix_len`` tokens of chunks retrieved from the same
    history *before* the window (:meth:`icrl.retrieval.ChunkMemory.prefix`): no later step and no
    other task can be retrieved. The retrieved tokens end with a feature 1 (the window's with 0)
    and carry no loss (weight 0); the window's positions weigh 1 each."""

    spec: TokenSpec  # with one condition feature: the retrieved flag
    horizon: int
    context_episodes: int
    memory: Any
    window_steps: int = 0  # > 0: a window of that many steps (a part of an episode) in place of whole episodes
    kind = "radt"

    def __post_init__(self):
        if self.spec.num_conditions != 1:
            raise ValueError(f"RA-DT's tokens carry one condition feature (retrieved or not), got a spec with {self.spec.num_conditions}")
        if self.window_steps < 0:
            raise ValueError(f"window_steps must be >= 0 (0: context_episodes whole episodes), got {self.window_steps}")

    @property
    def window(self) -> int:
        return self.window_steps or self.context_episodes * self.horizon

    @property
    def sequence_length(self) -> int:
        return self.memory.prefix_len + self.window

    def check(self, meta: dict) -> None:
        if self.window > meta["num_episodes"] * self.horizon:
            raise ValueError(f"a window of {self.window} steps is longer than the histories of {meta['num_episodes']} episodes "
                             f"of {self.horizon} steps")

    def sample_batch(self, data: Samples, key, batch_size: int):
        k_task, k_start, k_back, k_retrieve = jax.random.split(key, 4)
        length = data.history.action.shape[1]
        idx = sample_tasks(data, k_task, batch_size)
        if self.window_steps:
            steps = any_step_windows(k_start, batch_size, length, self.window)
        else:
            start = jax.random.randint(k_start, (batch_size,), 0, length // self.horizon - self.context_episodes + 1)
            back = jax.random.randint(k_back, (batch_size,), 0, self.horizon)
            steps = step_windows(start, back, self.horizon, self.window)  # (B, W)
        history = jax.tree.map(lambda x: x[idx], data.history._replace(regret=None, info=None))
        tokens = dataclasses.replace(self.spec, num_conditions=0).tokens(history)  # (B, L, D - 1): the whole history
        sequence = lambda t, r, first, k: self.memory.sequence(t, r, first, self.window, k)  # noqa: E731
        inputs = jax.vmap(sequence)(tokens, history.reward, steps[:, 0], jax.random.split(k_retrieve, batch_size))
        actions = jnp.take_along_axis(history.action, steps, axis=1)
        none = jnp.zeros((batch_size, self.memory.prefix_len))
        labels = Weighted(jnp.concatenate([none.astype(actions.dtype), actions], 1), jnp.concatenate([none, jnp.ones(actions.shape)], 1))
        return inputs, None, labels
