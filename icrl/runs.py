"""Reading a finished run back: its record, metrics, model, parameters, and an agent that acts with them.

A run directory, as :func:`icrl.training.train` leaves it::

    run_dir/checkpoints/STEP/{state, record}   orbax (icrl.checkpoints)
    run_dir/metrics.jsonl                      one JSON object per logged step

Nothing here trains or needs an optimizer.
"""

from __future__ import annotations

import json
import os
from typing import Any

import flax.linen as nn

from icrl import planning
from icrl.agents.model import ModelAgent
from icrl.checkpoints import Checkpoints, abstract_params, check_record, model_record
from icrl.models import TokenSpec, model_from_record


def read_metrics(run_dir: str) -> list[dict]:
    """The entries of ``run_dir/metrics.jsonl`` (empty if none), skipping a line cut short by a kill."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    entries = []
    with open(path) as f:
        for line in f:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return entries


def open_checkpoints(run_dir: str) -> Checkpoints:
    """The checkpoints of ``run_dir``; ``FileNotFoundError`` if it holds none."""
    path = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no checkpoints under {run_dir!r}")
    checkpoints = Checkpoints(path, 1)
    if checkpoints.latest_step() is None:
        raise FileNotFoundError(f"no checkpoint in {path!r}")
    return checkpoints


def read_record(run_dir: str, step: int | None = None) -> dict:
    """The record of checkpoint ``step`` (default: the latest): model, training settings, env, data."""
    with open_checkpoints(run_dir) as checkpoints:
        return checkpoints.read_record(step)


def load_params(run_dir: str, model: nn.Module, record: dict | None = None, step: int | None = None) -> Any:
    """Parameters of checkpoint ``step`` (default: the latest) in ``run_dir`` for ``model``.

    The checkpoint must have been made by this model (same constructor fields);
    every key of ``record`` (env, objective, data, …) must match what made it.
    Raises ``FileNotFoundError`` without a checkpoint, :class:`icrl.checkpoints.CheckpointError` otherwise.
    """
    with open_checkpoints(run_dir) as checkpoints:
        saved = checkpoints.read_record(step)
        what = f"checkpoint {checkpoints.directory}/{checkpoints.latest_step() if step is None else step}"
        check_record(saved, {**saved, **(record or {}), "model": model_record(model)}, what)
        return checkpoints.restore_params(abstract_params(model), step)


def load_model(run_dir: str, step: int | None = None) -> tuple[nn.Module, Any, dict]:
    """``(model, params, record)`` of a checkpoint: the model is rebuilt from the fields it
    was trained with, so nothing about it has to be repeated."""
    record = read_record(run_dir, step)
    model = model_from_record(record["model"])
    return model, load_params(run_dir, model, None, step), record


def load_agent(run_dir: str, env, step: int | None = None, **kwargs) -> ModelAgent:
    """The model of checkpoint ``step`` (default: latest) in ``run_dir``, as an agent acting in ``env``.

    ``env`` may differ from the training environment (another horizon, another
    task distribution) but must give tokens of the model's width and its number
    of actions. ``kwargs``: ``greedy``, ``temperature``.
    """
    model, params, _ = load_model(run_dir, step)
    spec = TokenSpec.for_env(env)
    # a meta-RL policy has one more output, its value (the token's one-hot action already fixes the count); a DICP
    # model's action logits come first, before its reward and next-state heads (it acts with its action head alone:
    # train.methods.dicp.agent.DICPAgent plans)
    allowed = (spec.num_actions, spec.num_actions + 1)
    if hasattr(env, "num_states"):
        allowed += (planning.num_outputs(spec.num_actions, env.num_states),)
    if spec.token_dim != model.token_dim or model.num_outputs not in allowed:
        raise ValueError(
            f"checkpoint {run_dir!r} was trained on tokens of {model.token_dim} features and {model.num_outputs} "
            f"actions; environment {getattr(env, 'name', env)!r} gives {spec.token_dim} features and "
            f"{spec.num_actions} actions"
        )
    return ModelAgent(params, model, spec, **kwargs)
