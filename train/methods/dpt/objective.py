"""DPT's objective: predict the optimal action for the query after every prefix of a context."""

from __future__ import annotations

from dataclasses import dataclass

import jax

from icrl.models.tokens import TokenSpec
from icrl.objectives import sample_tasks
from icrl.types import Samples


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
