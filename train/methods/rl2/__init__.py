"""Meta-RL (RL², as in the S5 paper's in-context experiments): PPO on trials of several episodes of
one task with a recurrent policy whose state spans the trial; no dataset, no labels.

The method is one folder, read top to bottom: ``method.py`` (its settings and how the parts meet: the
:class:`~train.methods.base.Method`), and ``presets.py`` (its named experiments, each with its one-line
description). This file imports none of them, so listing the presets imports no JAX.
"""

from __future__ import annotations

from train.methods.base import lazy_exports

__all__ = ["RL2", "RL2Config"]
__getattr__ = lazy_exports(__name__, tuple(__all__))
