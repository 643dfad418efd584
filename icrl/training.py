"""The training loop, one for every (objective, backbone, environment): compiled step, checkpoints, resume.

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
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from envs.base import check_positive_int
from icrl.checkpoints import Checkpoints, model_record
from icrl.objectives import cross_entropy
from icrl.runs import read_metrics
from icrl.types import Samples


@dataclass(frozen=True)
class TrainConfig:
    train_steps: int = 500  # gradient steps (not environment steps)
    batch_size: int = 128  # sequences per gradient step, over all devices
    learning_rate: float = 1e-3  # peak of the warm-up / cosine schedule
    warmup_steps: int = 50
    weight_decay: float = 1e-4  # AdamW
    grad_clip: float = 1.0  # global gradient norm
    seed: int = 0  # initialisation, batches and dropout
    log_every: int = 0  # steps between metrics lines; 0: min(25, train_steps // 10)
    eval_every: int = 0  # 0: evaluate only at the end
    checkpoint_every: int = 0  # 0: five checkpoints per run
    keep_checkpoints: int = 2
    num_devices: int = 0  # 0: every device jax sees

    def __post_init__(self):
        for name in ("train_steps", "batch_size", "keep_checkpoints"):
            check_positive_int(name, getattr(self, name))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        for name in ("warmup_steps", "log_every", "eval_every", "checkpoint_every", "num_devices"):
            check_positive_int(name, getattr(self, name), minimum=0)

    @property
    def log_interval(self) -> int:
        return self.log_every or max(1, min(25, self.train_steps // 10))

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or max(1, self.train_steps // 5)


class TrainState(struct.PyTreeNode):
    step: jax.Array
    params: Any
    opt_state: Any


#: Parameters weight decay applies to: weight matrices (``kernel``) and S5's output map (``c``, ``d``).
#: Not biases, LayerNorm, position embeddings, nor S5's eigenvalues, step sizes and input matrix,
#: whose decay would pull the dynamics themselves towards zero (S5 practice).
DECAYED_PARAMS = ("kernel", "c", "d")


def weight_decay_mask(params) -> Any:
    """``True`` for every leaf of ``params`` that weight decay applies to (see :data:`DECAYED_PARAMS`)."""
    def decayed(path, _):
        last = path[-1]
        return getattr(last, "key", getattr(last, "name", None)) in DECAYED_PARAMS

    return jax.tree_util.tree_map_with_path(decayed, params)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """AdamW with linear warm-up and cosine decay (to 10%), after global-norm clipping;
    weight decay on weight matrices only (:func:`weight_decay_mask`)."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, min(cfg.warmup_steps, cfg.train_steps - 1), max(cfg.train_steps, 1), cfg.learning_rate * 0.1
    )
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(schedule, weight_decay=cfg.weight_decay, mask=weight_decay_mask),
    )


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

    ``objective.sample_batch(samples, key, batch_size) -> (tokens, resets, labels)``.
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

    def init_state(self, data: Samples) -> TrainState:
        tokens, resets, _ = self.objective.sample_batch(data, jax.random.PRNGKey(0), 1)
        params = self.model.init(jax.random.fold_in(self.key, 0), tokens, resets)
        state = TrainState(jnp.zeros((), jnp.int32), params, self.optimizer.init(params))
        return jax.device_put(state, self.replicated)

    def _loss_and_grads(self, state: TrainState, data: Samples):
        key = jax.random.fold_in(jax.random.fold_in(self.key, 1), state.step)
        k_batch, k_dropout = jax.random.split(key)
        batch = self.objective.sample_batch(data, k_batch, self.cfg.batch_size)
        batch = jax.lax.with_sharding_constraint(batch, self.batch_sharding)
        return jax.value_and_grad(self.loss)(state.params, batch, k_dropout)

    def _batch_loss(self, params, data: Samples, key):
        tokens, resets, labels = self.objective.sample_batch(data, key, self.cfg.batch_size)
        return cross_entropy(self.model.apply(params, tokens, resets), labels)

    def mean_loss(self, params, data: Samples, num_batches: int = 16, seed: int = 0) -> float:
        """Mean loss (no dropout) over ``num_batches`` batches drawn from ``data`` with fixed keys:
        on held-out samples, the figure to read against a Bayes-optimal floor."""
        data = self.put_data(data)
        keys = jax.random.split(jax.random.PRNGKey(seed), check_positive_int("num_batches", num_batches))
        losses = jax.lax.map(lambda k: self._batch_loss(params, data, k), keys)
        return float(jnp.mean(losses))

    def loss_and_grads(self, state: TrainState, data: Samples):
        """The loss and gradients the next step would use (for checks and debugging)."""
        return self._grads(state, data)

    def _train_step(self, state: TrainState, data: Samples):
        loss, grads = self._loss_and_grads(state, data)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, opt_state), loss

    def step(self, state: TrainState, data: Samples) -> tuple[TrainState, jax.Array]:
        return self._step(state, data)

    def put_data(self, data) -> Samples:
        """The training samples (or a :class:`icrl.data.Dataset`'s) on the devices, replicated:
        every device samples batches from them."""
        data = getattr(data, "samples", data)
        return jax.device_put(jax.tree.map(jnp.asarray, data), self.replicated)


def train(
    model: nn.Module,
    objective,
    data,
    cfg: TrainConfig,
    run_dir: str | None = None,
    record: dict | None = None,
    eval_fn: Callable[[Any], dict] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> tuple[Any, list[dict]]:
    """Train ``model`` on ``objective`` over ``data`` (:class:`icrl.types.Samples` or a
    :class:`icrl.data.Dataset`); returns ``(params, logs)``.

    With ``run_dir``, checkpoints go to ``run_dir/checkpoints`` and metrics to
    ``run_dir/metrics.jsonl``; an existing checkpoint made by the same model,
    data and settings is resumed (a different one raises :class:`CheckpointError`).
    ``stop_after`` ends this call after that many steps in total (as a kill would).
    """
    trainer = Trainer(model, objective, cfg)
    data = trainer.put_data(data)
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
    end = cfg.train_steps if stop_after is None else min(cfg.train_steps, stop_after)
    bar = _progress(start, cfg.train_steps, progress)
    t0 = time.perf_counter()
    try:
        for step in range(start, end):
            state, loss = trainer.step(state, data)
            done = step + 1
            if done % cfg.log_interval == 0 or done == cfg.train_steps:
                entry = {"step": done, "loss": float(loss), "elapsed_s": round(offset + time.perf_counter() - t0, 3)}
                if eval_fn is not None and (done == cfg.train_steps or (cfg.eval_every and done % cfg.eval_every == 0)):
                    entry.update(eval_fn(state.params))
                logs.append(entry)
                if metrics_file:
                    metrics_file.write(json.dumps(entry) + "\n")
                    metrics_file.flush()
                bar.update(done, entry)
            if checkpoints is not None and (done % cfg.checkpoint_interval == 0 or done == end):
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
