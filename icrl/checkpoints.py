"""Orbax checkpoints of a training state, each with a JSON record of what made it.

A checkpoint directory holds one orbax step per save, each with two items:
``state`` (the training state pytree: step, params, optimizer state) and
``record`` (JSON: the model's constructor fields, the training settings and
whatever the caller adds: environment, objective, data). Training writes and
resumes them (:mod:`icrl.training`); reading a finished run needs only the
parameters (:mod:`icrl.runs`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

#: Training settings that do not shape the parameters: a run may resume with other values.
PACING_KEYS = ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "num_devices", "nonfinite_guard",
               "microbatches", "tensorboard")
#: Names of record fields renamed since checkpoints were first written (old -> new).
_RENAMED_TRAIN_KEYS = {"num_steps": "train_steps"}
#: Model fields added since checkpoints were first written, with the value that reproduces the model
#: from before each existed: a record without one is read as having that value.
_ADDED_MODEL_FIELDS = {
    "Transformer": {
        "position_encoding": "learned", "ffn": "dense", "num_experts": 6, "num_selects": 2, "num_task_experts": 12,
        "num_task_selects": 2, "expert_hidden": 64, "moe_balance_weight": 0.1, "moe_contrastive_weight": 0.01,
        "embedding": "linear", "detach_from": 0, "output_basis": 0,
    },
}
#: Experiment settings recorded since checkpoints were first written, with the value that reproduces the
#: runs from before each was recorded: a record without one is read as having that value.
_ADDED_EXPERIMENT_FIELDS = {"embedding": "linear"}


class CheckpointError(ValueError):
    """A checkpoint is unreadable or was made by another model, data or settings."""


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss or gradient (it diverged)."""


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint's files cannot be read back (damaged or cut short), as opposed to one
    made by another configuration."""


def model_record(model: nn.Module) -> dict:
    """The constructor fields of a flax module, JSON-able: ``{"class": name, **fields}``."""
    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name not in ("parent", "name")}
    return {"class": type(model).__name__, **fields}


def upgrade_record(record: dict) -> dict:
    """A record written by an older version, with today's field names and defaults."""
    record = dict(record)
    if "train" in record:
        train = dict(record["train"])
        for old, new in _RENAMED_TRAIN_KEYS.items():
            if old in train and new not in train:
                train[new] = train.pop(old)
        record["train"] = train
    if isinstance(record.get("experiment"), dict):
        record["experiment"] = {**_ADDED_EXPERIMENT_FIELDS, **record["experiment"]}
    model = record.get("model")
    if isinstance(model, dict) and model.get("class") in _ADDED_MODEL_FIELDS:
        record["model"] = {**_ADDED_MODEL_FIELDS[model["class"]], **model}
    return record


def check_record(saved: dict, expected: dict, what: str) -> None:
    """Everything that shapes the parameters or the data must agree before resuming or loading."""
    for key in sorted(set(saved) | set(expected)):
        if key == "train":
            continue
        old, new = saved.get(key), expected.get(key)
        if old != new:
            if isinstance(old, dict) and isinstance(new, dict):  # name the field inside, not the whole dict
                sub = next(k for k in sorted(set(old) | set(new), key=str) if old.get(k) != new.get(k))
                key, old, new = f"{key}.{sub}", old.get(sub), new.get(sub)
            raise CheckpointError(f"{what} was made with {key}={old!r}, but this run has {key}={new!r}")
    s_train, e_train = dict(saved.get("train", {})), dict(expected.get("train", {}))
    for key in PACING_KEYS:
        s_train.pop(key, None)
        e_train.pop(key, None)
    if s_train != e_train:
        diff = {k: (s_train.get(k), e_train.get(k)) for k in set(s_train) | set(e_train) if s_train.get(k) != e_train.get(k)}
        raise CheckpointError(f"{what} was trained with other settings (saved, now): {diff}")


class Checkpoints:
    """The orbax checkpoints of one run directory, newest ``keep`` kept."""

    def __init__(self, directory: str, keep: int = 1):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def set_aside(self, step: int, rename: bool = True) -> str:
        """Move checkpoint ``step`` out of the way (renamed, never deleted); returns its new path.
        With several processes one renames (``rename``) and all wait for it."""
        source = os.path.join(self.directory, str(step))
        target = source + ".unreadable"
        suffix = 1
        while os.path.exists(target) and rename:
            suffix += 1
            target = f"{source}.unreadable-{suffix}"
        if rename:
            os.replace(source, target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"icrl set aside checkpoint {step}")
        self.manager.reload()
        return target

    def close(self) -> None:
        """Finish pending writes and stop orbax's background threads."""
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self) -> "Checkpoints":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def save(self, state: Any, record: dict) -> None:
        """Write ``state`` (a pytree with a ``step``) and ``record``; returns once it is on disk.
        Refuses a state with non-finite values: a checkpoint is only ever written from finite state."""
        if not all_finite(state):
            raise NonFiniteError(f"refusing to checkpoint the state of step {int(state.step)}: it holds non-finite values")
        step = int(state.step)
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record)), force=True)
        self.manager.wait_until_finished()

    def read_record(self, step: int | None = None) -> dict:
        step = self.latest_step() if step is None else step
        try:
            record = self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
        except Exception as err:  # orbax raises many kinds; name the path and the cause
            raise UnreadableCheckpointError(f"checkpoint {self.directory}/{step} is unreadable: {type(err).__name__}: {err}") from None
        return upgrade_record(record)

    def restore(self, abstract: Any, record: dict, step: int | None = None) -> Any:
        """The whole state of checkpoint ``step`` (default: latest), shaped like ``abstract``,
        after checking that ``record`` agrees with the one it was saved with."""
        step = self.latest_step() if step is None else step
        check_record(self.read_record(step), record, f"checkpoint {self.directory}/{step}")
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        except Exception as err:  # the record matched, so the arrays themselves are damaged
            raise UnreadableCheckpointError(
                f"checkpoint {self.directory}/{step} is corrupt: {type(err).__name__}: {err}"
            ) from None
        if not all_finite(restored["state"]):
            raise UnreadableCheckpointError(f"checkpoint {self.directory}/{step} holds non-finite values")
        return restored["state"]

    def restore_params(self, abstract_params: Any, step: int | None = None) -> Any:
        """Only the parameters of checkpoint ``step``, shaped like ``abstract_params``: no
        optimizer is needed to read a finished run."""
        step = self.latest_step() if step is None else step
        target = {"params": abstract_params}
        restore_args = ocp.checkpoint_utils.construct_restore_args(target)
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(state=ocp.args.PyTreeRestore(target, restore_args=restore_args, partial_restore=True)),
            )
        except Exception as err:
            raise CheckpointError(
                f"checkpoint {self.directory}/{step} does not match this model or is corrupt: {type(err).__name__}: {err}"
            ) from None
        return restored["state"]["params"]


def all_finite(tree: Any) -> bool:
    """Whether every floating-point leaf of ``tree`` is finite (one host read per leaf)."""
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact))


def abstract_params(model: nn.Module) -> Any:
    """Shapes and dtypes of ``model``'s parameters, without computing them (the ``params``
    collection only, as training keeps it: not what a T2MIR layer sows at init)."""
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 1, model.token_dim)), None)
    return {"params": variables["params"]}
