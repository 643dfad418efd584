"""Distillation for in-context planning (DICP, Son, Lee & Kim 2025): AD's learning histories and
action loss, plus heads that predict, for every action, the reward it earns and the state it
leads to (trained on the source's action); deployed, a beam search over those predictions
on the model's own context (:mod:`icrl.planning`, :class:`icrl.agents.dicp.DICPAgent`).

One trained model deploys as several agents: every beam width in ``beam_widths``, ``0`` being
the action head alone (planning off, the ablation that shows what the planner adds).

The method is one folder: ``method.py`` (its settings, data, objective and deployed agent: the
:class:`~train.methods.base.Method`) and ``presets.py`` (its named experiments, each with its
one-line description). This file imports neither, so listing the presets imports no JAX.
"""

from __future__ import annotations

from train.methods.base import lazy_exports

__all__ = ["DICP", "DICPConfig"]
__getattr__ = lazy_exports(__name__, tuple(__all__))
