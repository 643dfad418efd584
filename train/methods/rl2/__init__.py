"""Meta-RL (RL², as in the S5 paper's in-context experiments): PPO on trials of several episodes of
one task with a recurrent policy whose state spans the trial; no dataset, no labels.

The method is one folder: ``method.py`` (its settings, data, objective and deployed agent: the
:class:`~train.methods.base.Method`) and ``presets.py`` (its named experiments, each with its
one-line description). This file imports neither, so listing the presets imports no JAX.
"""

from __future__ import annotations

import importlib

_EXPORTS = ("RL2", "RL2Config")


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(__name__ + ".method"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
