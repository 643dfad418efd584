"""Training data made on device inside the training step: fresh training-split tasks and contexts for every batch.

A fixed dataset (:mod:`icrl.data`) is generated once and sampled from; a model can
memorise its finite set of contexts, and its size grows with tasks x horizon. A
stream instead draws ``batch`` new tasks from the training split at every step,
runs the context collector(s) on them with :func:`icrl.rollout.rollout` and labels
the queries, all inside the compiled step: memory is O(batch), nothing is written to
disk, and the batch of step ``t`` depends only on the seed and ``t`` (the step's key),
so a resumed run sees the batches an uninterrupted one would.

:class:`DPTStream` makes DPT contexts (bandits, the linear bandit, the grid worlds: whatever
:func:`icrl.data.make_dpt_dataset` makes) per batch. A whole learning history is too costly
to make per batch (hundreds of sequential steps of the source algorithm), so AD's stream is a
:class:`HistoryPool`: learning histories resident on device, a chunk of them replaced by
fresh ones every few steps; the pool a step draws from is again a function of the seed and
the step alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from envs.base import check_positive_int
from icrl.agents import make_agent
from icrl.data import ad_arrays, dpt_arrays, dpt_collectors, split_counts
from icrl.objectives import cross_entropy
from icrl.types import Samples, task_vectors


@dataclass(frozen=True, eq=False)
class DPTStream:
    """DPT contexts of ``context_len`` steps of ``collector`` (a name or a mixture, as for
    :func:`icrl.data.make_dpt_dataset`) on fresh tasks of the training split.

    ``samples(key, num_tasks)`` is pure and traceable: with the same key it returns the
    arrays ``make_dpt_dataset(env, key, num_tasks, ...)`` holds."""

    env: Any
    context_len: int
    collector: Any = "dirichlet"
    labels: str = "optimal"
    collector_kwargs: dict | None = None
    split: str = "train"
    _agents: tuple = field(init=False, repr=False)

    def __post_init__(self):
        check_positive_int("context_len", self.context_len)
        mix, agents = dpt_collectors(self.env, self.collector, self.collector_kwargs, self.labels)
        object.__setattr__(self, "_fractions", tuple(mix.values()))
        object.__setattr__(self, "_agents", tuple(agents))

    def samples(self, key: jax.Array, num_tasks: int) -> Samples:
        counts = split_counts(list(self._fractions), num_tasks)
        _, history, queries, labels = dpt_arrays(self.env, self._agents, counts, key, self.context_len, self.labels,
                                                 self.split, check=False)
        return Samples(history._replace(regret=None), queries, labels)  # as a dataset stores it


@dataclass(frozen=True, eq=False)
class Streamed:
    """``objective`` trained on ``stream``: every batch is made afresh by the stream inside the
    training step (the data argument of ``sample_batch`` is a placeholder and is ignored)."""

    objective: Any
    stream: Any

    @property
    def kind(self) -> str:
        return self.objective.kind

    @property
    def criterion(self):
        """The wrapped objective's loss (its own, or cross-entropy): streaming changes the data, not the loss."""
        return getattr(self.objective, "criterion", cross_entropy)

    def sample_batch(self, data, key, batch_size: int):
        return self.objective.batch_of(self.stream.samples(key, batch_size))



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
    :func:`icrl.data.make_ad_dataset`.
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


@dataclass(frozen=True, eq=False)
class Pooled:
    """``objective`` (AD) trained on a :class:`HistoryPool`: the trainer keeps the pool on
    device, rebuilds it at the step a run starts or resumes from and refreshes it between
    steps; batches are drawn from it as from a fixed dataset."""

    objective: Any
    pool: HistoryPool

    @property
    def kind(self) -> str:
        return self.objective.kind

    @property
    def paired(self) -> bool:  # T2MIR's contrastive loss reads it
        return self.objective.paired

    @property
    def criterion(self):
        """The wrapped objective's loss (its own, or cross-entropy)."""
        return getattr(self.objective, "criterion", cross_entropy)

    def check_batch_size(self, batch_size: int) -> None:
        self.objective.check_batch_size(batch_size)

    def sample_batch(self, data, key, batch_size: int):
        return self.objective.sample_batch(data, key, batch_size)
