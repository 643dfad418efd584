"""Decision-Pretrained Transformer (Lee et al. 2023): predict the optimal action for a query
state from a context of interactions, at every context prefix; deployed by querying the
current observation with the context it has gathered itself.

The method is one folder: ``method.py`` (its settings, data, objective and deployed agent: the
:class:`~train.methods.base.Method`) and ``presets.py`` (its named experiments, each with its
one-line description). This file imports neither, so listing the presets imports no JAX.
"""

from __future__ import annotations

import importlib

_EXPORTS = ("DPT", "DPTConfig")


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(__name__ + ".method"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
