"""The interface every objective meets: what :class:`icrl.training.Trainer` calls, written down.

An objective turns training data into batches and, optionally, says how a batch's outputs are
scored. The built-in ones live in their methods' folders (``train/methods/NAME/objective.py``), built from
:mod:`icrl.objectives` (and wrapped by :mod:`icrl.streams` where the data is made inside the step); a method (:class:`train.methods.base.Method`) returns one from
its ``objective`` hook. A class need not inherit from :class:`Objective`: meeting it is enough. An objective with an update
of its own (PPO) brings its own trainer instead (``make_trainer(model, cfg)``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

from icrl.types import Samples


@runtime_checkable
class Objective(Protocol):
    """What the trainer needs of an objective; the optional parts are in :class:`OptionalParts`."""

    #: a short name of the kind of batch (its method's name): what records and messages call it
    kind: str

    def sample_batch(self, data: Samples, key: jax.Array, batch_size: int) -> tuple[Any, ...]:
        """``(tokens, resets, labels[, task])`` for ``batch_size`` rows drawn from ``data`` with ``key``.

        ``tokens: (B, T, token_dim)``; ``resets: (B, T) bool`` where a recurrent state restarts, or
        ``None``; ``labels``: what the criterion scores the outputs ``(B, T, num_outputs)`` against
        (``(B, T)`` int actions, or :class:`icrl.objectives.Weighted` with per-position weights);
        ``task (B,)``: each row's task, for losses that pair rows of one task (a contrastive loss).
        Pure and traceable: it runs inside the compiled step, once per group of rows, ``batch_size`` being
        :meth:`OptionalParts.check_batch_size`'s smallest accepted size (the trainer draws the groups
        with keys of their own, so a batch does not depend on the number of devices)."""
        ...


class OptionalParts(Protocol):
    """Parts an objective may add; the trainer uses a default where one is missing."""

    def criterion(self, logits: jax.Array, labels: Any) -> jax.Array:
        """The scalar loss of outputs ``(B, T, num_outputs)`` against ``labels`` (default:
        :func:`icrl.objectives.cross_entropy`, weighted where the labels carry weights)."""
        ...

    def check_batch_size(self, batch_size: int) -> None:
        """Raise ``ValueError`` for a number of rows the objective cannot draw together (windows drawn in
        pairs need an even number). The smallest size it accepts is the size of one group of rows."""
        ...

    def check(self, meta: dict) -> None:
        """Raise ``ValueError`` where a dataset (its ``meta``) cannot serve this objective (windows
        longer than its histories); a method calls it on its data before training starts."""
        ...


__all__ = ["Objective", "OptionalParts"]
