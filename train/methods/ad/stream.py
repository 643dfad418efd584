"""AD's stream: learning histories resident on device, a chunk of them replaced by fresh ones every
few steps (wrapped with its objective by :class:`icrl.streams.Pooled`). A whole learning history is
too costly to make per batch (hundreds of sequential steps of the source algorithm); the pool a step
draws from is a function of the seed and the step alone."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from envs.base import check_positive_int
from icrl.agents import make_agent
from icrl.types import Samples, task_vectors
from train.methods.ad.data import ad_arrays


@dataclass(frozen=True, eq=False)
class HistoryPool:
    """AD's stream: ``size`` learning histories of ``source`` (``num_episodes`` episodes each, on
    training-split tasks) resident on device, refreshed in chunks as training goes.

    Refresh rule. The pool is ``size / chunk`` slots of ``chunk`` histories. Refresh ``r``
    (``r = 0, 1, ...``) runs ``source`` from scratch on ``chunk`` fresh tasks with the key
    ``fold_in(key, r)`` and writes the histories into slot ``r mod slots``, over the oldest
    ones. Refreshes ``0 .. slots - 1`` fill the pool before the first step; one more follows
    every ``every`` steps, so the batch of step ``t`` is drawn from the pool after
    ``slots + t // every`` refreshes (:meth:`refreshes`), and :meth:`at_step` rebuilds that pool
    from the key and ``t`` alone (a resumed run draws what an uninterrupted one would). A
    history stays ``slots * every`` steps and is drawn ``batch * every / chunk`` times on average.
    ``noisy_fraction`` of each chunk (its first histories) come from the degraded source, as in
    :func:`train.methods.ad.data.make_ad_dataset`.
    """

    env: Any
    num_episodes: int
    size: int
    chunk: int
    every: int = 1
    source: str = "q-learning"
    source_kwargs: dict | None = None
    noisy_fraction: float = 0.0
    noise_epsilon: float = 0.5
    split: str = "train"

    def __post_init__(self):
        for name in ("num_episodes", "size", "chunk", "every"):
            check_positive_int(name, getattr(self, name))
        if self.size % self.chunk:
            raise ValueError(f"a pool of {self.size} histories does not split into chunks of {self.chunk}")
        if not 0.0 <= self.noisy_fraction <= 1.0:
            raise ValueError(f"noisy_fraction must be in [0, 1], got {self.noisy_fraction!r}")
        object.__setattr__(self, "_agent", make_agent(self.source, self.env, **(self.source_kwargs or {})))

    @property
    def slots(self) -> int:
        return self.size // self.chunk

    def shard(self, num_shards: int) -> "HistoryPool":
        """The pool one of ``num_shards`` devices holds: ``size / num_shards`` histories refreshed
        ``chunk / num_shards`` at a time (its own key: the trainer folds in the device's index)."""
        if self.size % num_shards or self.chunk % num_shards:
            raise ValueError(f"a pool of {self.size} histories refreshed {self.chunk} at a time does not split over "
                             f"{num_shards} devices")
        return dataclasses.replace(self, size=self.size // num_shards, chunk=self.chunk // num_shards)

    def refreshes(self, step) -> Any:
        """How many refreshes have been applied to the pool the batch of step ``step`` is drawn from."""
        return self.slots + step // self.every

    def histories(self, key: jax.Array) -> Samples:
        """One refresh: ``chunk`` fresh learning histories (pure and traceable)."""
        num_noisy = int(round(self.noisy_fraction * self.chunk))
        tasks, history = ad_arrays(self.env, self._agent, self.chunk, num_noisy, self.noise_epsilon, key, self.num_episodes,
                                   self.split, check=False)
        return Samples(history._replace(regret=None), task=task_vectors(tasks, self.chunk))

    def at_step(self, key: jax.Array, step) -> Samples:
        """The pool the batch of step ``step`` is drawn from, made from scratch: slot ``j`` holds the
        last refresh ``r`` with ``r mod slots = j``."""
        last = self.refreshes(step) - 1
        slot = jnp.arange(self.slots)
        newest = slot + self.slots * ((last - slot) // self.slots)
        chunks = jax.lax.map(lambda r: self.histories(jax.random.fold_in(key, r)), newest)  # (slots, chunk, ...)
        return jax.tree.map(lambda x: x.reshape((self.size,) + x.shape[2:]), chunks)

    def due(self, step: int) -> bool:
        """Whether the pool of step ``step`` differs from that of step ``step - 1`` (host-side)."""
        return step > 0 and step % self.every == 0

    def advance(self, key: jax.Array, pool: Samples, step) -> Samples:
        """The pool of a step where a refresh is :meth:`due`, from the previous step's pool."""
        r = self.refreshes(step) - 1
        fresh = self.histories(jax.random.fold_in(key, r))
        start = (r % self.slots) * self.chunk
        return jax.tree.map(lambda x, y: jax.lax.dynamic_update_slice_in_dim(x, y, start, axis=0), pool, fresh)
