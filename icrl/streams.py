"""Training data made on device inside the training step: fresh training-split data for every batch.

A fixed dataset (:mod:`icrl.data`) is generated once and sampled from; a model can
memorise its finite set of contexts, and its size grows with tasks x horizon. A
stream instead draws ``batch`` new tasks from the training split at every step,
runs the data collector(s) on them with :func:`icrl.rollout.rollout` and labels
them, all inside the compiled step: memory is O(batch), nothing is written to
disk, and the batch of step ``t`` depends only on the seed and ``t`` (the step's key),
so a resumed run sees the batches an uninterrupted one would.

Two wrappers give an objective its data this way. :class:`Streamed` pairs it with a stream whose
``samples(key, num_tasks)`` makes a whole batch (contexts of a fixed collector).
Where one sequence is too costly to make per batch (a learning history is hundreds of sequential
steps of its source), :class:`Pooled` pairs it with a pool of sequences resident on device that the
trainer refreshes in chunks between steps (learning histories).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from icrl.objectives import cross_entropy


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
class Pooled:
    """``objective`` trained on a pool of sequences (:class:`PoolSource`): the trainer keeps the pool on
    device, rebuilds it at the step a run starts or resumes from and refreshes it between
    steps; batches are drawn from it as from a fixed dataset."""

    objective: Any
    pool: Any  # meets :class:`PoolSource`

    @property
    def kind(self) -> str:
        return self.objective.kind

    @property
    def paired(self) -> bool:  # a loss that pairs rows of one task reads it
        return self.objective.paired

    @property
    def criterion(self):
        """The wrapped objective's loss (its own, or cross-entropy)."""
        return getattr(self.objective, "criterion", cross_entropy)

    def check_batch_size(self, batch_size: int) -> None:
        self.objective.check_batch_size(batch_size)

    def sample_batch(self, data, key, batch_size: int):
        return self.objective.sample_batch(data, key, batch_size)


class PoolSource(Protocol):
    """What :class:`Pooled` and the trainer need of a pool of sequences."""

    def shard(self, num_shards: int) -> "PoolSource":
        """The pool one of ``num_shards`` devices holds."""
        ...

    def at_step(self, key: Any, step) -> Any:
        """The pool the batch of step ``step`` is drawn from, made from the key and the step alone (pure)."""
        ...

    def due(self, step: int) -> bool:
        """Whether the pool of step ``step`` differs from that of step ``step - 1`` (host-side)."""
        ...

    def advance(self, key: Any, pool: Any, step) -> Any:
        """The pool of a step where a refresh is :meth:`due`, from the previous step's pool (pure)."""
        ...
