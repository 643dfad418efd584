"""One training loop for every (objective, backbone, environment).

The compiled step samples its batch from the device-resident dataset, computes
the loss and applies an optax update: no host round trip inside it. Batches
are sharded over all devices along the batch axis (data parallel); parameters
are replicated. The Python driver around it shows progress, writes metrics as
JSON lines, evaluates, and checkpoints with orbax so that a run killed at any
point resumes to the same parameters as an uninterrupted one: every step's
randomness is ``fold_in(key, step)``, so nothing depends on where a run
stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from icrl.objectives import cross_entropy


@dataclass(frozen=True)
class TrainConfig:
    num_steps: int = 500
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 25
    eval_every: int = 0  # 0: evaluate only at the end
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    num_devices: int = 0  # 0: every device jax sees

    def __post_init__(self):
        for name in ("num_steps", "batch_size", "log_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.warmup_steps < 0 or self.eval_every < 0 or self.num_devices < 0:
            raise ValueError("warmup_steps, eval_every and num_devices must be >= 0")


class TrainState(struct.PyTreeNode):
    step: jax.Array
    params: Any
    opt_state: Any


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """AdamW with linear warm-up and cosine decay (to 10%), after global-norm clipping."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, min(cfg.warmup_steps, cfg.num_steps - 1), max(cfg.num_steps, 1), cfg.learning_rate * 0.1
    )
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), optax.adamw(schedule, weight_decay=cfg.weight_decay))


def _mesh(cfg: TrainConfig) -> Mesh:
    devices = jax.devices()
    if cfg.num_devices:
        if cfg.num_devices > len(devices):
            raise ValueError(f"num_devices={cfg.num_devices} but jax sees only {len(devices)} devices")
        devices = devices[: cfg.num_devices]
    if cfg.batch_size % len(devices):
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of devices ({len(devices)})")
    return Mesh(np.asarray(devices), ("data",))


class Trainer:
    """Builds the compiled step for ``model`` on ``objective`` and runs it.

    ``objective.sample_batch(arrays, key, batch_size) -> (tokens, resets, labels)``.
    """

    def __init__(self, model: nn.Module, objective, cfg: TrainConfig):
        self.model, self.objective, self.cfg = model, objective, cfg
        self.optimizer = make_optimizer(cfg)
        self.mesh = _mesh(cfg)
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch_sharding = NamedSharding(self.mesh, PartitionSpec("data"))
        self.key = jax.random.PRNGKey(cfg.seed)
        self._step = jax.jit(self._train_step, donate_argnums=0)
        self._grads = jax.jit(self._loss_and_grads)

    def loss(self, params, batch, key):
        tokens, resets, labels = batch
        logits = self.model.apply(params, tokens, resets, deterministic=False, rngs={"dropout": key})
        return cross_entropy(logits, labels)

    def init_state(self, arrays) -> TrainState:
        tokens, resets, _ = self.objective.sample_batch(arrays, jax.random.PRNGKey(0), 1)
        params = self.model.init(jax.random.fold_in(self.key, 0), tokens, resets)
        state = TrainState(jnp.zeros((), jnp.int32), params, self.optimizer.init(params))
        return jax.device_put(state, self.replicated)

    def _loss_and_grads(self, state: TrainState, arrays):
        key = jax.random.fold_in(jax.random.fold_in(self.key, 1), state.step)
        k_batch, k_dropout = jax.random.split(key)
        batch = self.objective.sample_batch(arrays, k_batch, self.cfg.batch_size)
        batch = jax.lax.with_sharding_constraint(batch, self.batch_sharding)
        return jax.value_and_grad(self.loss)(state.params, batch, k_dropout)

    def loss_and_grads(self, state: TrainState, arrays):
        """The loss and gradients the next step would use (for checks and debugging)."""
        return self._grads(state, arrays)

    def _train_step(self, state: TrainState, arrays):
        loss, grads = self._loss_and_grads(state, arrays)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, opt_state), loss

    def step(self, state: TrainState, arrays) -> tuple[TrainState, jax.Array]:
        return self._step(state, arrays)

    def put_data(self, arrays) -> dict:
        """The dataset on the devices, replicated (every device samples batches from it)."""
        return jax.device_put({k: jnp.asarray(v) for k, v in arrays.items()}, self.replicated)


class CheckpointError(ValueError):
    pass


class Checkpoints:
    """Orbax checkpoints of a :class:`TrainState` plus a JSON record of what made it."""

    def __init__(self, directory: str, keep: int):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, state: TrainState, record: dict) -> None:
        step = int(state.step)
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record)), force=True)
        self.manager.wait_until_finished()

    def read_record(self, step: int | None = None) -> dict:
        step = self.latest_step() if step is None else step
        try:
            return self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
        except Exception as err:  # orbax raises many kinds; name the path and the cause
            raise CheckpointError(f"checkpoint {self.directory}/{step} is unreadable: {type(err).__name__}: {err}") from None

    def restore(self, abstract: TrainState, record: dict, step: int | None = None) -> TrainState:
        step = self.latest_step() if step is None else step
        saved = self.read_record(step)
        check_record(saved, record, f"checkpoint {self.directory}/{step}")
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        except Exception as err:
            raise CheckpointError(
                f"checkpoint {self.directory}/{step} does not match this model or is corrupt: {type(err).__name__}: {err}"
            ) from None
        return restored["state"]


def check_record(saved: dict, expected: dict, what: str) -> None:
    """Everything that shapes the parameters or the data must agree before resuming."""
    for key in sorted(set(saved) | set(expected)):
        if key == "train":
            continue
        if saved.get(key) != expected.get(key):
            raise CheckpointError(f"{what} was made with {key}={saved.get(key)!r}, but this run has {key}={expected.get(key)!r}")
    s_train, e_train = dict(saved.get("train", {})), dict(expected.get("train", {}))
    for key in ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "num_devices"):
        s_train.pop(key, None)
        e_train.pop(key, None)
    if s_train != e_train:
        diff = {k: (s_train.get(k), e_train.get(k)) for k in set(s_train) | set(e_train) if s_train.get(k) != e_train.get(k)}
        raise CheckpointError(f"{what} was trained with other settings (saved, now): {diff}")


def model_record(model: nn.Module) -> dict:
    """The constructor fields of a flax module, JSON-able."""
    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name not in ("parent", "name")}
    return {"class": type(model).__name__, **fields}


def train(
    model: nn.Module,
    objective,
    arrays: dict,
    cfg: TrainConfig,
    run_dir: str | None = None,
    record: dict | None = None,
    eval_fn: Callable[[Any], dict] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> tuple[Any, list[dict]]:
    """Train ``model`` on ``objective`` over the dataset ``arrays``; returns ``(params, logs)``.

    With ``run_dir``, checkpoints go to ``run_dir/checkpoints`` and metrics to
    ``run_dir/metrics.jsonl``; an existing checkpoint made by the same model,
    data and settings is resumed (a different one raises :class:`CheckpointError`).
    ``stop_after`` ends this call after that many steps in total (as a kill would).
    """
    trainer = Trainer(model, objective, cfg)
    data = trainer.put_data(arrays)
    state = trainer.init_state(data)
    record = {"model": model_record(model), "train": dataclasses.asdict(cfg), **(record or {})}
    checkpoints = metrics_file = None
    offset = 0.0  # training seconds spent before a resumed checkpoint: elapsed_s counts the whole run
    if run_dir is not None:
        os.makedirs(run_dir, exist_ok=True)
        checkpoints = Checkpoints(os.path.join(run_dir, "checkpoints"), cfg.keep_checkpoints)
        if checkpoints.latest_step() is not None:
            state = jax.device_put(checkpoints.restore(state, record), trainer.replicated)
        offset = _elapsed_before(run_dir, int(state.step))
        metrics_file = open(os.path.join(run_dir, "metrics.jsonl"), "a")
    logs: list[dict] = []
    start = int(state.step)
    end = cfg.num_steps if stop_after is None else min(cfg.num_steps, stop_after)
    bar = _progress(start, cfg.num_steps, progress)
    t0 = time.perf_counter()
    try:
        for step in range(start, end):
            state, loss = trainer.step(state, data)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.num_steps:
                entry = {"step": done, "loss": float(loss), "elapsed_s": round(offset + time.perf_counter() - t0, 3)}
                if eval_fn is not None and (done == cfg.num_steps or (cfg.eval_every and done % cfg.eval_every == 0)):
                    entry.update(eval_fn(state.params))
                logs.append(entry)
                if metrics_file:
                    metrics_file.write(json.dumps(entry) + "\n")
                    metrics_file.flush()
                bar.update(done, entry)
            if checkpoints is not None and (done % cfg.checkpoint_every == 0 or done == end):
                checkpoints.save(state, record)
    finally:
        bar.close()
        if metrics_file:
            metrics_file.close()
    return jax.device_get(state.params), logs


def _elapsed_before(run_dir: str, step: int) -> float:
    """``elapsed_s`` of the last metrics entry at or before ``step`` (0 without one)."""
    before = [e for e in read_metrics(run_dir) if e.get("step", step + 1) <= step]
    return float(before[-1].get("elapsed_s", 0.0)) if before else 0.0


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


def _open_checkpoints(run_dir: str) -> Checkpoints:
    path = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no checkpoints under {run_dir!r}")
    checkpoints = Checkpoints(path, 1)
    if checkpoints.latest_step() is None:
        raise FileNotFoundError(f"no checkpoint in {path!r}")
    return checkpoints


def load_params(run_dir: str, model: nn.Module, record: dict | None = None, step: int | None = None) -> Any:
    """Parameters of checkpoint ``step`` (default: the latest) in ``run_dir`` for ``model``.

    The checkpoint must have been made by this model (same constructor fields);
    every key of ``record`` (env, objective, data, …) must match what made it.
    Raises ``FileNotFoundError`` without a checkpoint, :class:`CheckpointError` otherwise.
    """
    checkpoints = _open_checkpoints(run_dir)
    return _restore_params(checkpoints, checkpoints.read_record(step), model, record, step)


def _restore_params(checkpoints: Checkpoints, saved: dict, model: nn.Module, record: dict | None, step: int | None):
    expected = {**saved, **(record or {}), "model": model_record(model)}
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 1, model.token_dim)), None)
    abstract = TrainState(jnp.zeros((), jnp.int32), params, make_optimizer(TrainConfig(**saved["train"])).init(params))
    return checkpoints.restore(abstract, expected, step).params


def load_model(run_dir: str, step: int | None = None) -> tuple[nn.Module, Any, dict]:
    """``(model, params, record)`` of a checkpoint: the model is rebuilt from the fields it
    was trained with, so nothing about it has to be repeated."""
    from icrl.models import model_from_record

    checkpoints = _open_checkpoints(run_dir)
    saved = checkpoints.read_record(step)
    model = model_from_record(saved["model"])
    return model, _restore_params(checkpoints, saved, model, None, step), saved


class _progress:
    """A tqdm bar when asked for and available; silent otherwise."""

    def __init__(self, start: int, total: int, enabled: bool):
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
            except ImportError:
                pass
        self.last = start

    def update(self, step: int, entry: dict) -> None:
        if self.bar is not None:
            self.bar.update(step - self.last)
            self.bar.set_postfix({k: (round(v, 4) if isinstance(v, float) else v) for k, v in entry.items() if k != "step"})
        self.last = step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
