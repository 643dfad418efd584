"""Decision-Pretrained Transformer (Lee et al. 2023): predict the optimal action for a query
state from a context of interactions, at every context prefix; deployed by querying the
current observation with the context it has gathered itself.

The method is one folder, read top to bottom: ``method.py`` (its settings and how the parts meet: the
:class:`~train.methods.base.Method`), ``objective.py`` (the query after every prefix and its label),
``data.py`` (contexts of a collector, labelled), ``stream.py`` (contexts made inside the training step), and
``presets.py`` (its named experiments, each with its one-line description). This file imports none of them,
so listing the presets imports no JAX.
"""

from __future__ import annotations

from train.methods.base import lazy_exports

__all__ = ["DPT", "DPTConfig"]
__getattr__ = lazy_exports(__name__, tuple(__all__))
