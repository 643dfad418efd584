"""DPT with label smoothing: a method that changes one thing of a built-in one, its loss.

Everything else is DPT's (:mod:`train.methods.dpt`): the contexts it trains on, its sequence length,
the deployed agent. A method is a :class:`train.methods.base.Method`: a name, a label for results, a
frozen dataclass of its settings (each a ``--flag``), and the methods that differ from the defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import optax

from icrl.streams import Streamed
from train.fields import setting
from train.methods.dpt import DPT, DPTConfig
from train.methods.dpt.objective import DPTObjective


@dataclass(frozen=True)
class SmoothDPTConfig(DPTConfig):
    """DPT's settings, and the share of the target spread evenly over every action."""

    smoothing: float = setting(0.1, "objective", "label smoothing: the share of each target spread evenly over the actions")

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing!r}")


@dataclass(frozen=True)
class SmoothDPTObjective(DPTObjective):
    """DPT's batches; the loss is cross-entropy against smoothed one-hot labels."""

    smoothing: float = 0.1

    def criterion(self, logits: jax.Array, labels: jax.Array) -> jax.Array:
        """``logits (B, T, A)``, ``labels (B, T)`` int: the mean over positions (what the trainer minimises)."""
        targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), self.smoothing)
        return optax.softmax_cross_entropy(logits, targets).mean()


class SmoothDPT(DPT):
    name, label, Config = "smooth-dpt", "SmoothDPT", SmoothDPTConfig
    flat_records = False  # a new method: its checkpoint records hold its own settings only

    def objective(self, cfg, env, spec):
        objective, length = super().objective(cfg, env, spec)  # DPT's, fixed or streamed
        smooth = SmoothDPTObjective(spec, cfg.method.smoothing)
        if isinstance(objective, Streamed):  # streamed contexts: the same stream, the smoothed loss
            return dataclasses.replace(objective, objective=smooth), length
        return smooth, length
