"""Distillation for in-context planning (DICP, Son, Lee & Kim 2025): AD's learning histories and
action loss, plus heads that predict, for every action, the reward it earns and the state it
leads to (trained on the source's action); deployed, a beam search over those predictions
on the model's own context (:mod:`icrl.planning`, :class:`train.methods.dicp.agent.DICPAgent`).

One trained model deploys as several agents: every beam width in ``beam_widths``, ``0`` being
the action head alone (planning off, the ablation that shows what the planner adds).

The method is one folder, read top to bottom: ``method.py`` (its settings and how the parts meet: the
:class:`~train.methods.base.Method`), ``objective.py`` (AD's windows with reward and next-state labels),
``agent.py`` (beam search on the model's own context), and ``presets.py`` (its named experiments, each with
its one-line description). This file imports none of them, so listing the presets imports no JAX.
"""

from __future__ import annotations

from train.methods.base import lazy_exports

__all__ = ["DICP", "DICPConfig"]
__getattr__ = lazy_exports(__name__, tuple(__all__))
