"""Algorithm Distillation (Laskin et al. 2022): predict a learning algorithm's next action across
windows of its learning histories; deployed as a sliding context over its own episodes.

The method is one folder, read top to bottom: ``method.py`` (its settings and how the parts meet: the
:class:`~train.methods.base.Method`), ``objective.py`` (windows of a learning history and their loss),
``data.py`` (learning histories of a source algorithm), ``stream.py`` (a pool of histories refreshed on
device), and ``presets.py`` (its named experiments, each with its one-line description). This file imports
none of them, so listing the presets imports no JAX.
"""

from __future__ import annotations

from train.methods.base import lazy_exports

__all__ = ["AD", "ADConfig"]
__getattr__ = lazy_exports(__name__, tuple(__all__))
