"""AD's objective: predict the source's next action at every position of a window of its learning history."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from icrl.models.tokens import TokenSpec
from icrl.objectives import any_step_windows, sample_tasks, step_windows
from icrl.types import Samples


def check_window_span(context_episodes: int, episode_stride: int, num_episodes: int) -> None:
    """Raise unless a window of ``context_episodes`` episodes, every ``episode_stride``-th, fits histories of ``num_episodes``."""
    span = (context_episodes - 1) * episode_stride + 1
    if span > num_episodes:
        raise ValueError(f"a window of {context_episodes} episodes with stride {episode_stride} spans {span} episodes; "
                         f"the histories have only {num_episodes}")

@dataclass(frozen=True)
class ADObjective:
    """Algorithm Distillation: predict the source's next action at every position of a
    window of ``context_episodes`` episodes, taken every ``episode_stride`` episodes
    from a learning history (a stride > 1 compresses learning into the window).

    ``window_starts="step"`` (stride 1 only) moves a window that does not begin at
    the history's start back by a uniform 0..horizon-1 steps, so windows begin at
    every step of an episode, as a sliding context does when a model runs past
    its training length; a window still begins at the history's start with
    probability ``1 / (num_episodes - context_episodes + 1)``.

    ``paired=True`` draws two windows from each of ``batch_size / 2`` histories, as rows
    ``2i`` and ``2i + 1`` (the pairs T2MIR's contrastive loss needs), and the batch carries a
    fourth element, each row's task (``Samples.task`` rows, ``(batch, P)``), so that windows
    of another history of the same goal are not taken for negatives.

    ``episode_resets`` restarts the model's state at each episode in the window.
    Off by default: AD's in-context improvement needs memory *across* episodes;
    a new task always starts a fresh sequence anyway.

    ``window_steps > 0`` (with ``window_starts="step"``, one episode): windows of that many
    steps, shorter than an episode, beginning at every step they fit after alike.
    """

    spec: TokenSpec
    horizon: int
    context_episodes: int
    episode_stride: int = 1
    episode_resets: bool = False
    window_starts: str = "episode"
    paired: bool = False
    window_steps: int = 0
    kind = "ad"

    def __post_init__(self):
        if self.window_starts not in ("episode", "step"):
            raise ValueError(f"window_starts must be 'episode' or 'step', got {self.window_starts!r}")
        if self.window_starts == "step" and self.episode_stride != 1:
            raise ValueError(f"window_starts='step' needs episode_stride=1, got {self.episode_stride}")
        if self.window_starts == "step" and self.episode_resets:
            raise ValueError("window_starts='step' cuts episodes, so it cannot reset the state at episode ends")
        if self.window_steps and (self.window_starts != "step" or self.context_episodes != 1):
            raise ValueError(f"window_steps={self.window_steps} needs window_starts='step' and context_episodes=1, got "
                             f"{self.window_starts!r} and {self.context_episodes}")

    def check_batch_size(self, batch_size: int) -> None:
        if self.paired and batch_size % 2:
            raise ValueError(f"paired windows need an even batch per device, got {batch_size}")

    def check(self, meta: dict) -> None:
        check_window_span(self.context_episodes, self.episode_stride, meta["num_episodes"])
        if self.window_steps > meta["num_episodes"] * self.horizon:
            raise ValueError(f"a window of {self.window_steps} steps is longer than the histories of {meta['num_episodes']} "
                             f"episodes of {self.horizon} steps")

    def sample_batch(self, data: Samples, key, batch_size: int):
        idx, h, resets = self.windows(data, key, batch_size)
        return self._with_task(data, idx, (self.spec.tokens(h), resets, self.labels(h)))

    def labels(self, h):
        """What the window's positions are trained on: the source's actions."""
        return h.action

    def windows(self, data: Samples, key, batch_size: int):
        """``(task indices (B,), window histories (B, T), resets or None)`` of one batch."""
        k_task, k_start = jax.random.split(key)
        num_tasks, length = data.history.action.shape
        num_episodes = length // self.horizon
        span = (self.context_episodes - 1) * self.episode_stride + 1
        if self.paired:
            if data.task is None:
                raise ValueError("paired windows (T2MIR's contrastive loss) need each history's task (Samples.task); "
                                 "this data carries none: make it again with train.methods.ad.data.make_ad_dataset")
            idx = jnp.repeat(sample_tasks(data, k_task, batch_size // 2), 2)
        else:
            idx = sample_tasks(data, k_task, batch_size)
        if self.window_steps:
            steps = any_step_windows(k_start, batch_size, length, self.window_steps)
            return idx, jax.tree.map(lambda x: x[idx[:, None], steps], data.history), None
        start = jax.random.randint(k_start, (batch_size,), 0, num_episodes - span + 1)
        episodes = start[:, None] + self.episode_stride * jnp.arange(self.context_episodes)  # (B, W)
        if self.window_starts == "step":
            back = jax.random.randint(jax.random.fold_in(k_start, 1), (batch_size,), 0, self.horizon)
            steps = step_windows(start, back, self.horizon, self.context_episodes * self.horizon)  # (B, W * H)
            return idx, jax.tree.map(lambda x: x[idx[:, None], steps], data.history), None

        def window(x):
            per_episode = x.reshape((num_tasks, num_episodes, self.horizon) + x.shape[2:])
            w = per_episode[idx[:, None], episodes]  # (B, W, H, ...)
            return w.reshape((batch_size, self.context_episodes * self.horizon) + x.shape[2:])

        h = jax.tree.map(window, data.history)
        resets = None  # a window never crosses tasks: no resets unless asked for at episode ends
        if self.episode_resets:
            resets = jnp.concatenate([jnp.zeros((batch_size, 1), bool), h.done[:, :-1]], axis=1)
        return idx, h, resets

    def _with_task(self, data: Samples, idx, batch: tuple) -> tuple:
        """``batch``, and each row's task where windows are paired."""
        return (*batch, data.task[idx]) if self.paired else batch
