"""What pretraining objectives share: drawing tasks and windows, weighted labels and the loss.

Every method's objective (``train/methods/NAME/objective.py``; the interface in
:mod:`icrl.objective`) builds its batches from these. Batch samplers are pure and jittable: they
take the training :class:`icrl.types.Samples` (device arrays, an argument of the training step,
never constants baked into it) and a key, and return ``(tokens, resets, labels)`` with a leading
batch axis (``resets`` ``None`` where no sequence restarts inside: the model then knows it
statically).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from icrl.types import Samples


def sample_tasks(data: Samples, key, count: int) -> jax.Array:
    """``count`` task indices: uniform, or in proportion to ``data.weights`` (learning-history filtering)."""
    num_tasks = data.history.action.shape[0]
    if data.weights is None:
        return jax.random.randint(key, (count,), 0, num_tasks)
    return jax.random.categorical(key, jnp.log(data.weights), shape=(count,))


def any_step_windows(key, batch_size: int, length: int, window: int) -> jax.Array:
    """``(B, window)`` step indices of windows of ``window`` steps that begin at every step of a
    history of ``length`` they fit after, all alike (windows shorter than an episode)."""
    first = jax.random.randint(key, (batch_size,), 0, length - window + 1)
    return first[:, None] + jnp.arange(window)


def step_windows(start: jax.Array, back: jax.Array, horizon: int, length: int) -> jax.Array:
    """``(B, length)`` step indices of windows that begin ``back`` steps before episode ``start``
    (a window at the sequence's start begins at it): windows that begin at any step of an
    episode, as a sliding context does (windows that slide over a sequence of episodes)."""
    first = start * horizon - jnp.where(start > 0, back, 0)
    return first[:, None] + jnp.arange(length)


class Weighted(NamedTuple):
    """Labels with a weight per position: ``labels (B, T) int32``, ``weights (B, T) float32 >= 0``.
    An objective whose positions count unequally (importance weights) returns these
    in place of plain labels; :func:`cross_entropy` then takes the weighted mean."""

    labels: jax.Array
    weights: jax.Array


def cross_entropy(logits: jax.Array, labels) -> jax.Array:
    """Mean cross-entropy over every position: ``logits (B, T, A)``, ``labels (B, T)``; for
    :class:`Weighted` labels the weighted mean, self-normalised over the batch (divided by the
    weights' sum, so its scale does not depend on how large the weights run)."""
    if isinstance(labels, Weighted):
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels.labels)
        return jnp.sum(losses * labels.weights) / jnp.maximum(jnp.sum(labels.weights), 1e-8)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


