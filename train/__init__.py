"""Named experiments: ``python -m train NAME [--overrides]``.

Imports are lazy, so ``python -m train`` can join JAX's distributed runtime before
any module touches a device.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BaselinesConfig": ("train.baselines", "BaselinesConfig"),
    "run_baselines": ("train.baselines", "run"),
    "EXPERIMENTS": ("train.configs", "EXPERIMENTS"),
    "ExperimentConfig": ("train.configs", "ExperimentConfig"),
    "config_for": ("train.configs", "config_for"),
    "run_experiment": ("train.experiments", "run"),
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'train' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    return getattr(importlib.import_module(module), attr)


__all__ = sorted(_EXPORTS)
