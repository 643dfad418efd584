"""Pretraining objectives: what a batch of tokens and labels is for DPT and for AD, and the loss.

Batch samplers are pure and jittable: they take the training :class:`icrl.types.Samples`
(device arrays, an argument of the training step, never constants baked into
it) and a key, and return ``(tokens, resets, labels)`` with a leading batch axis (``resets``
``None`` where no sequence restarts inside: the model then knows it statically).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from icrl.models.tokens import TokenSpec
from icrl.types import Samples


def sample_tasks(data: Samples, key, count: int) -> jax.Array:
    """``count`` task indices: uniform, or in proportion to ``data.weights`` (learning-history filtering)."""
    num_tasks = data.history.action.shape[0]
    if data.weights is None:
        return jax.random.randint(key, (count,), 0, num_tasks)
    return jax.random.categorical(key, jnp.log(data.weights), shape=(count,))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy over every position: ``logits (B, T, A)``, ``labels (B, T)``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@dataclass(frozen=True)
class DPTObjective:
    """Decision-pretrained transformer: predict the optimal action for the query at
    **every** context prefix: position ``t`` has seen ``t`` transitions, ``t = 0..T``
    for a context of ``T`` (datasets made before the full prefix was labelled hold
    ``T`` queries, ``t = 0..T-1``; both work)."""

    spec: TokenSpec
    kind = "dpt"

    def sample_batch(self, data: Samples, key, batch_size: int):
        idx = sample_tasks(data, key, batch_size)
        return self.batch_of(jax.tree.map(lambda x: x[idx], data._replace(weights=None)))

    def batch_of(self, batch: Samples):
        """``(tokens, resets, labels)`` of every context in ``batch`` (a stream's fresh samples)."""
        return self.spec.tokens(batch.history, batch.queries), None, batch.labels  # None: no resets


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
    """

    spec: TokenSpec
    horizon: int
    context_episodes: int
    episode_stride: int = 1
    episode_resets: bool = False
    window_starts: str = "episode"
    paired: bool = False
    kind = "ad"

    def __post_init__(self):
        if self.window_starts not in ("episode", "step"):
            raise ValueError(f"window_starts must be 'episode' or 'step', got {self.window_starts!r}")
        if self.window_starts == "step" and self.episode_stride != 1:
            raise ValueError(f"window_starts='step' needs episode_stride=1, got {self.episode_stride}")
        if self.window_starts == "step" and self.episode_resets:
            raise ValueError("window_starts='step' cuts episodes, so it cannot reset the state at episode ends")

    def check_batch_size(self, batch_size: int) -> None:
        if self.paired and batch_size % 2:
            raise ValueError(f"paired windows need an even batch per device, got {batch_size}")

    def check(self, meta: dict) -> None:
        span = (self.context_episodes - 1) * self.episode_stride + 1
        if span > meta["num_episodes"]:
            raise ValueError(
                f"a window of {self.context_episodes} episodes with stride {self.episode_stride} spans {span} episodes; "
                f"the histories have only {meta['num_episodes']}"
            )

    def sample_batch(self, data: Samples, key, batch_size: int):
        k_task, k_start = jax.random.split(key)
        num_tasks, length = data.history.action.shape
        num_episodes = length // self.horizon
        span = (self.context_episodes - 1) * self.episode_stride + 1
        if self.paired:
            if data.task is None:
                raise ValueError("paired windows (T2MIR's contrastive loss) need each history's task (Samples.task); "
                                 "this data carries none: make it again with icrl.data.make_ad_dataset")
            idx = jnp.repeat(sample_tasks(data, k_task, batch_size // 2), 2)
        else:
            idx = sample_tasks(data, k_task, batch_size)
        start = jax.random.randint(k_start, (batch_size,), 0, num_episodes - span + 1)
        episodes = start[:, None] + self.episode_stride * jnp.arange(self.context_episodes)  # (B, W)
        if self.window_starts == "step":
            back = jax.random.randint(jax.random.fold_in(k_start, 1), (batch_size,), 0, self.horizon)
            first = start * self.horizon - jnp.where(start > 0, back, 0)
            steps = first[:, None] + jnp.arange(self.context_episodes * self.horizon)  # (B, W * H)
            h = jax.tree.map(lambda x: x[idx[:, None], steps], data.history)
            return self._with_task(data, idx, (self.spec.tokens(h), None, h.action))

        def window(x):
            per_episode = x.reshape((num_tasks, num_episodes, self.horizon) + x.shape[2:])
            w = per_episode[idx[:, None], episodes]  # (B, W, H, ...)
            return w.reshape((batch_size, self.context_episodes * self.horizon) + x.shape[2:])

        h = jax.tree.map(window, data.history)
        tokens = self.spec.tokens(h)
        resets = None  # a window never crosses tasks: no resets unless asked for at episode ends
        if self.episode_resets:
            resets = jnp.concatenate([jnp.zeros((batch_size, 1), bool), h.done[:, :-1]], axis=1)
        return self._with_task(data, idx, (tokens, resets, h.action))

    def _with_task(self, data: Samples, idx, batch: tuple) -> tuple:
        """``batch``, and each row's task where windows are paired."""
        return (*batch, data.task[idx]) if self.paired else batch
