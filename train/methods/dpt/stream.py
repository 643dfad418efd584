"""DPT's data made inside the training step: fresh training-split tasks and contexts for every batch
(wrapped with its objective by :class:`icrl.streams.Streamed`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax

from envs.base import check_positive_int
from icrl.data import split_counts
from icrl.types import Samples
from train.methods.dpt.data import dpt_arrays, dpt_collectors


@dataclass(frozen=True, eq=False)
class DPTStream:
    """DPT contexts of ``context_len`` steps of ``collector`` (a name or a mixture, as for
    :func:`train.methods.dpt.data.make_dpt_dataset`) on fresh tasks of the training split.

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
