"""Training data made on device inside the training step: fresh training-split tasks and contexts for every batch.

A fixed dataset (:mod:`icrl.data`) is generated once and sampled from; a model can
memorise its finite set of contexts, and its size grows with tasks x horizon. A
stream instead draws ``batch`` new tasks from the training split at every step,
runs the context collector(s) on them with :func:`icrl.rollout.rollout` and labels
the queries, all inside the compiled step: memory is O(batch), nothing is written to
disk, and the batch of step ``t`` depends only on the seed and ``t`` (the step's key),
so a resumed run sees the batches an uninterrupted one would.

Built for DPT (bandits, the linear bandit, the grid worlds: whatever
:func:`icrl.data.make_dpt_dataset` makes); an AD stream would need a pool of learning
histories refreshed as training goes, which is not built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from envs.base import check_positive_int
from icrl.data import split_counts, dpt_arrays, dpt_collectors
from icrl.types import Samples


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

    def sample_batch(self, data, key, batch_size: int):
        return self.objective.batch_of(self.stream.samples(key, batch_size))

