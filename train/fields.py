"""Config fields with a group and help text, shared by :mod:`train.configs` and the methods' settings.

Every field belongs to a group that says what changing it changes:

- ``env``, ``data``: the training data (the dataset fingerprint covers them, and the seed);
- ``objective``, ``model``: how batches are drawn and what is trained;
- ``train``: the nested :class:`icrl.training.TrainConfig` (optimisation);
- ``eval``, ``output``: only what is measured and where it is written.
"""

from __future__ import annotations

from icrl.training import described

GROUPS = ("env", "data", "objective", "model", "train", "eval", "output", "method")
#: Groups whose fields shape the data or the trained parameters.
TRAINED_GROUPS = ("env", "data", "objective", "model")


def setting(default, group: str, help: str = ""):
    """A dataclass field in ``group`` with ``help`` (shown by ``--help``)."""
    if group not in GROUPS:
        raise ValueError(f"unknown config group {group!r}")
    return described(default, help, group=group)
