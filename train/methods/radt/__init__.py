"""Retrieval-augmented decision transformer (RA-DT, Schmied et al. 2024): AD's learning histories,
but the model sees only a short window of recent steps, behind chunks of the task's earlier
experience retrieved by similarity and reweighted by the reward they collected
(:mod:`icrl.retrieval`). In training the memory is the window's own history before it; deployed,
the agent's own steps on the task. ``retrieval="random"`` retrieves valid chunks at random (the
ablation); AD with the same short window and no retrieval is the ``ad`` method with
``context_episodes`` equal to the window.

The method is one folder, read top to bottom: ``method.py`` (its settings and how the parts meet: the
:class:`~train.methods.base.Method`), ``objective.py`` (a window behind chunks retrieved from before it),
``agent.py`` (its own window and memory), and ``presets.py`` (its named experiments, each with its one-line
description). This file imports none of them, so listing the presets imports no JAX.
"""

from __future__ import annotations

from train.methods.base import lazy_exports

__all__ = ["RADT", "RADTConfig"]
__getattr__ = lazy_exports(__name__, tuple(__all__))
