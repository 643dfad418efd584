"""Algorithm Distillation (Laskin et al. 2022): predict a learning algorithm's next action across
windows of its learning histories; deployed as a sliding context over its own episodes.

The method is one folder: ``method.py`` (its settings, data, objective and deployed agent: the
:class:`~train.methods.base.Method`) and ``presets.py`` (its named experiments, each with its
one-line description). This file imports neither, so listing the presets imports no JAX.
"""

from __future__ import annotations

import importlib

_EXPORTS = ("AD", "ADConfig")


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(__name__ + ".method"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
