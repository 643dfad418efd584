"""The training loop, one for every (objective, backbone, environment): compiled step, checkpoints, resume.

The compiled step samples its batch from the device-resident dataset, computes
the loss and applies an optax update: no host round trip inside it. Training is
data parallel over a mesh of every device of every process (``jax.distributed``
for several processes or hosts): the dataset is whole on every device, each row
group of a batch is drawn with a key of its own (the step's key folded with the
group's index in the global batch), each device draws its contiguous share of the
groups, and parameters are replicated. A batch therefore depends on the seed and
the step alone, not on the number of devices nor on how they are spread over
processes: one device and N train on the same batches (to float rounding of the
gradient's sum). A pooled objective (:class:`icrl.streams.Pooled`) is the
exception: each device draws from the pool it refreshes itself. The Python driver around it shows progress, writes metrics as
JSON lines, evaluates, and checkpoints with orbax so that a run killed at any
point resumes to the same parameters as an uninterrupted one: every step's
randomness is ``fold_in(key, step)``, and a pool of histories (:mod:`icrl.streams`) is
rebuilt for the step a run resumes at, so nothing depends on where a run stopped.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import time
import warnings
from contextlib import ExitStack
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
from icrl.checkpoints import Checkpoints, NonFiniteError, UnreadableCheckpointError, model_record
from icrl.objectives import cross_entropy
from icrl.runlock import RunLock
from icrl.runs import read_metrics
from icrl.types import History, Samples


def described(default, help: str, **metadata):
    """A dataclass field with ``help`` text (and any other ``metadata``) in its metadata: what the CLI
    (``train/cli.py``) shows for it. A mutable or dataclass default is given by a factory."""
    metadata = {"help": help, **metadata}
    if isinstance(default, (list, dict, set)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, checkpoints and devices. ``help`` texts are what ``python -m train NAME --help`` shows."""

    train_steps: int = described(500, "gradient steps (not environment steps); an objective with an update of its own (PPO): its updates")
    batch_size: int = described(128, "sequences per gradient step, over all devices; an objective with an update of its own (PPO): trials per update")
    learning_rate: float = described(1e-3, "peak of the warm-up / cosine schedule (AdamW)")
    warmup_steps: int = described(50, "steps of linear warm-up")
    weight_decay: float = described(1e-4, "AdamW weight decay, on weight matrices only")
    grad_clip: float = described(1.0, "global gradient norm clip")
    seed: int = described(0, "one seed for the data, initialisation, batches, dropout and evaluation keys")
    log_every: int = described(0, "steps between metrics lines; 0: min(25, train_steps // 10)")
    eval_every: int = described(0, "steps between evaluations during training; 0: only at the end")
    checkpoint_every: int = described(0, "steps between checkpoints; 0: five checkpoints per run")
    keep_checkpoints: int = described(2, "newest checkpoints kept")
    num_devices: int = described(0, "devices to train on, data parallel; 0: every device jax sees")
    nonfinite_guard: bool = described(True, "a non-finite loss or gradient freezes the state and stops the run")
    # gradient accumulation: each device's share of the batch runs forward and backward in this many equal
    # parts (or the most below it that split the share evenly, with a warning), one after another (lax.scan),
    # their gradients averaged: activation memory / microbatches, the same batch and (no dropout) the same
    # step to float rounding (benchmarks/stream.py --memory); on CPU also faster (docs/performance.md)
    microbatches: int = described(1, "gradient accumulation: each device's share of a batch in this many parts, one after "
                                 "another (less memory, the same step; on CPU also faster)")
    tensorboard: bool = described(False, "also write the training metrics as TensorBoard events to RUN_DIR/tensorboard "
                                     "(needs tensorboardX: pip install -e '.[tensorboard]')")

    def __post_init__(self):
        for name in ("train_steps", "batch_size", "keep_checkpoints", "microbatches"):
            check_positive_int(name, getattr(self, name))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        for name in ("warmup_steps", "log_every", "eval_every", "checkpoint_every", "num_devices"):
            check_positive_int(name, getattr(self, name), minimum=0)
        if self.tensorboard and importlib.util.find_spec("tensorboardX") is None:
            raise ValueError("tensorboard=True writes events with tensorboardX, which is not installed: "
                             "pip install -e '.[tensorboard]'")

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


def schedule_values(cfg: TrainConfig) -> np.ndarray:
    """``(peak, warm-up steps, total steps)`` of :func:`warmup_cosine`: the schedule's settings as data, so
    that the compiled step takes them as an argument and runs of other lengths reuse its program."""
    return np.array([cfg.learning_rate, min(cfg.warmup_steps, cfg.train_steps - 1), max(cfg.train_steps, 1)], np.float32)


def warmup_cosine(count, values, floor: float = 0.1):
    """Linear warm-up from 0 to the peak over the warm-up steps, then cosine decay to ``floor`` x peak
    at the last step (``optax.warmup_cosine_decay_schedule``'s values, from traced ``values``)."""
    peak, warmup, total = values[0], values[1], values[2]
    count = jnp.asarray(count, jnp.float32)
    rising = peak * jnp.clip(count / jnp.maximum(warmup, 1.0), 0.0, 1.0)
    decay = jnp.maximum(total - warmup, 1.0)
    progress = jnp.clip(count - warmup, 0.0, decay) / decay
    falling = peak * ((1.0 - floor) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress)) + floor)
    return jnp.where(count < warmup, rising, falling)


def make_optimizer(cfg: TrainConfig, values=None) -> optax.GradientTransformation:
    """AdamW with linear warm-up and cosine decay (to 10%), after global-norm clipping;
    weight decay on weight matrices only (:func:`weight_decay_mask`). ``values``: the schedule's
    :func:`schedule_values`, traced inside a compiled step (default: ``cfg``'s)."""
    values = schedule_values(cfg) if values is None else values
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(lambda count: warmup_cosine(count, values), weight_decay=cfg.weight_decay, mask=weight_decay_mask),
    )


def _mesh(cfg: TrainConfig) -> Mesh:
    devices = jax.devices()  # every process's devices, in process order
    if cfg.num_devices:
        if cfg.num_devices > len(devices):
            raise ValueError(f"num_devices={cfg.num_devices} but jax sees only {len(devices)} devices")
        devices = devices[: cfg.num_devices]
    if cfg.batch_size % len(devices):
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of devices ({len(devices)})")
    return Mesh(np.asarray(devices), ("data",))


def moe_losses(model, sown: dict) -> jax.Array:
    """The weighted auxiliary losses a mixture-of-experts layer (:mod:`icrl.models.moe`) sowed (0 for a dense model)."""
    def total(name):
        found = [v for path, v in jax.tree_util.tree_leaves_with_path(sown) if any(getattr(k, "key", None) == name for k in path)]
        return sum(found) if found else 0.0

    if not sown:
        return jnp.zeros(())
    return model.moe_balance_weight * total("balance") + model.moe_contrastive_weight * total("contrastive")


def has_batch_losses(model) -> bool:
    """Whether ``model`` sows auxiliary losses that are functions of the whole batch (a mixture-of-experts layer)."""
    return getattr(model, "ffn", "dense") != "dense"


def finite_step(loss, grads) -> jax.Array:
    """Whether a step's loss and every gradient are finite (traced: no host read)."""
    return jnp.isfinite(loss) & jax.tree.reduce(jnp.logical_and, jax.tree.map(lambda g: jnp.all(jnp.isfinite(g)), grads))


class Trainer:
    """Builds the compiled step for ``model`` on ``objective`` and runs it.

    ``objective`` meets :class:`icrl.objective.Objective`: ``sample_batch(samples, key, batch_size) ->
    (tokens, resets, labels[, task])``, and optionally ``criterion`` and ``check_batch_size``.
    """

    def __init__(self, model: nn.Module, objective, cfg: TrainConfig):
        self.model, self.objective, self.cfg = model, objective, cfg
        #: the loss of outputs against labels: the objective's own (a model with several heads), or cross-entropy
        self.criterion = getattr(objective, "criterion", cross_entropy)
        # initialises the optimizer state; the step builds the same optimizer from its traced schedule values
        self.optimizer = make_optimizer(cfg)
        self.mesh = _mesh(cfg)
        self.num_shards = self.mesh.size
        check = getattr(objective, "check_batch_size", lambda size: None)  # e.g. paired windows need an even batch

        def suits(size: int) -> bool:
            try:
                check(size)
            except ValueError:
                return False
            return True

        #: rows drawn together with one key (a pair of windows: 2); a batch is made of such groups
        self.group_rows = next(k for k in range(1, cfg.batch_size + 1) if suits(k))
        if cfg.batch_size % (self.group_rows * self.num_shards):
            raise ValueError(f"batch_size={cfg.batch_size} must be a multiple of {self.group_rows * self.num_shards}: groups of "
                             f"{self.group_rows} rows drawn together, an equal number on each of {self.num_shards} devices")
        local = cfg.batch_size // self.num_shards

        def fits(parts: int) -> bool:
            return local % (parts * self.group_rows) == 0 and suits(local // parts)

        requested = cfg.microbatches
        if has_batch_losses(model) and requested > 1:
            # a mixture-of-experts layer's balance and contrastive losses are functions of the whole batch (its experts' load,
            # its pairs' negatives): computed per microbatch they would be another objective, so such a model
            # trains in one piece and microbatches stays a setting of pace alone
            requested = 1
            warnings.warn(f"microbatches={cfg.microbatches} ignored: this model's auxiliary losses are computed over the "
                          f"whole batch, so it trains in one piece", stacklevel=2)
        #: parts each device's share of the batch runs in: the most, up to the requested, that split it evenly
        self.microbatches = max((k for k in range(1, requested + 1) if fits(k)), default=1)
        check(local // self.microbatches)  # raises if even one piece does not suit the objective
        if self.microbatches < requested:
            warnings.warn(f"microbatches={cfg.microbatches} does not split each device's share of the batch ({cfg.batch_size} "
                          f"over {self.num_shards} devices: {local}) evenly; using {self.microbatches}", stacklevel=2)
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.key = jax.random.PRNGKey(cfg.seed)
        self._step = jax.jit(self._train_step, donate_argnums=0)
        self._grads = jax.jit(self._loss_and_grads)
        self._batch = jax.jit(self._sample)
        if self.pooled:  # each device holds and refreshes its own shard of the pool
            self._local_pool = objective.pool.shard(self.num_shards)
            self._pool_at = jax.jit(self._make_pool)
            self._refresh = jax.jit(self._refresh_pool, donate_argnums=0)
        # on device, replicated as the step returns it (a host scalar would compile the step a second time
        # for its second call); read only at check points
        self._first_nonfinite = self._replicate(np.int32(-1))
        # the learning-rate schedule's settings, an argument of the step rather than constants in it
        self._schedule = self._replicate(schedule_values(cfg))

    def loss(self, params, batch, key):
        """Cross-entropy, plus the losses a mixture-of-experts layer sows (balance, and the
        contrastive loss when the objective pairs segments of the same task: its batch then carries
        each row's task as a fourth element)."""
        tokens, resets, labels, *task = batch
        extra = {}
        if has_batch_losses(self.model):
            extra["paired"] = task[0] if task else False
        logits, sown = self.model.apply(params, tokens, resets, deterministic=False, rngs={"dropout": key}, mutable=["moe"], **extra)
        return self.criterion(logits, labels) + moe_losses(self.model, sown.get("moe", {}))

    def _replicate(self, tree):
        """A host pytree as global arrays replicated on every device of every process."""
        host = jax.tree.map(np.asarray, tree)
        return jax.tree.map(lambda x: jax.make_array_from_callback(x.shape, self.replicated, lambda idx: x[idx]), host)

    def init_state(self, data: Samples | None = None) -> TrainState:
        """Fresh parameters (from the seed alone) and optimizer state, replicated."""
        def fresh(key):  # compiled once, rather than every operation of every layer's initialiser run on its own
            variables = self.model.init(key, jnp.zeros((1, 2, self.model.token_dim)), None)
            params = {"params": variables["params"]}  # not what init sowed (a mixture-of-experts layer's losses and routing)
            return TrainState(jnp.zeros((), jnp.int32), params, self.optimizer.init(params))

        return self._replicate(jax.jit(fresh)(jax.random.fold_in(self.key, 0)))

    def _sample(self, step, data: Samples):
        """The batch of gradient step ``step`` (sharded): ``batch_size / group_rows`` groups of rows,
        group ``g`` drawn from the whole data with the step's key folded with ``g``, each device
        drawing its contiguous share of the groups. The batch is the same whatever the number of
        devices (a pooled objective's excepted: each device draws from its own pool)."""
        key = jax.random.fold_in(jax.random.fold_in(self.key, 1), step)
        rows = self.group_rows
        groups = self.cfg.batch_size // rows // self.num_shards  # on each device

        def per_shard(data: Samples, key):
            first = jax.lax.axis_index("data") * groups
            keys = jax.vmap(lambda g: jax.random.fold_in(key, g))(first + jnp.arange(groups))
            batch = jax.vmap(lambda k: self.objective.sample_batch(data, k, rows))(keys)
            return jax.tree.map(lambda x: x.reshape((groups * rows,) + x.shape[2:]), batch)

        spec = PartitionSpec("data")
        data_spec = spec if self.pooled else PartitionSpec()
        # check_vma off: a stream's collectors start scans from constants (a fresh agent's zeros) that the
        # device's key makes device-varying; nothing here communicates across devices, so the check buys nothing
        return jax.shard_map(per_shard, mesh=self.mesh, in_specs=(data_spec, PartitionSpec()), out_specs=spec,
                             check_vma=False)(data, key)

    def batch(self, step: int, data: Samples):
        """The batch gradient step ``step`` trains on (for checks and debugging)."""
        return self._batch(jnp.asarray(step, jnp.int32), data)

    def _loss_and_grads(self, state: TrainState, data: Samples):
        batch = self._sample(state.step, data)
        k_dropout = jax.random.fold_in(jax.random.fold_in(self.key, 2), state.step)
        grad_fn = jax.value_and_grad(self.loss)
        parts = self.microbatches
        if parts == 1:
            return grad_fn(state.params, batch, k_dropout)
        # microbatch i: every group of rows whose index is i modulo parts. A device's share is a whole number of
        # cycles of parts groups, so no row leaves its device, a group (a pair of windows) stays together, and
        # the microbatches are the same whatever the number of devices
        rows = self.group_rows

        def split(x):
            per = x.reshape((-1, parts, rows) + x.shape[1:])
            return jnp.moveaxis(per, 1, 0).reshape((parts, -1) + x.shape[1:])

        def accumulate(total, part):
            i, micro = part
            loss, grads = grad_fn(state.params, micro, jax.random.fold_in(k_dropout, i))
            return jax.tree.map(jnp.add, total, (loss, grads)), None

        zeros = (jnp.zeros(()), jax.tree.map(jnp.zeros_like, state.params))
        total, _ = jax.lax.scan(accumulate, zeros, (jnp.arange(parts), jax.tree.map(split, batch)))
        return jax.tree.map(lambda x: x / parts, total)

    def _batch_loss(self, params, data: Samples, key):
        tokens, resets, labels, *_ = self.objective.sample_batch(data, key, self.cfg.batch_size)
        return self.criterion(self.model.apply(params, tokens, resets), labels)

    def mean_loss(self, params, data: Samples, num_batches: int = 16, seed: int = 0) -> float:
        """Mean loss (no dropout) over ``num_batches`` batches drawn from ``data`` with fixed keys:
        on held-out samples, the figure to read against a Bayes-optimal floor. Runs on this
        process's default device."""
        params, data = jax.device_get(params), jax.tree.map(jnp.asarray, getattr(data, "samples", data))
        keys = jax.random.split(jax.random.PRNGKey(seed), check_positive_int("num_batches", num_batches))
        losses = jax.jit(lambda p, d, ks: jax.lax.map(lambda k: self._batch_loss(p, d, k), ks))(params, data, keys)
        return float(jnp.mean(losses))

    def loss_and_grads(self, state: TrainState, data: Samples):
        """The loss and gradients the next step would use (for checks and debugging)."""
        return self._grads(state, data)

    def _train_step(self, state: TrainState, data: Samples, first_nonfinite, schedule):
        loss, grads = self._loss_and_grads(state, data)
        updates, opt_state = make_optimizer(self.cfg, schedule).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new = TrainState(state.step + 1, params, opt_state)
        new, first_nonfinite = self._guard(state, new, finite_step(loss, grads), first_nonfinite)
        return new, loss, first_nonfinite

    def _guard(self, state: TrainState, new: TrainState, finite, first_nonfinite):
        """``new`` if this step was ``finite`` and every one before it too, else ``state``; the first
        bad step is kept (``cfg.nonfinite_guard=False``: ``new`` always)."""
        if not self.cfg.nonfinite_guard:
            return new, first_nonfinite
        healthy = finite & (first_nonfinite < 0)
        # once a step is not finite, the state stays the last finite one and the first bad step is kept
        new = jax.tree.map(lambda n, o: jnp.where(healthy, n, o), new, state)
        first_nonfinite = jnp.where((first_nonfinite < 0) & ~finite, state.step + 1, first_nonfinite)
        return new, first_nonfinite

    def step(self, state: TrainState, data: Samples) -> tuple[TrainState, Any]:
        """One gradient step; returns the new state and the loss (or a dict of figures with a ``loss``).
        A non-finite loss or gradient leaves ``state`` as it was, and every
        later step too, until :meth:`first_nonfinite_step` is read (no host round trip here)."""
        state, loss, self._first_nonfinite = self._step(state, data, self._first_nonfinite, self._schedule)
        return state, loss

    def first_nonfinite_step(self) -> int | None:
        """The first gradient step (counted from 1) whose loss or gradient was not finite, or None."""
        step = int(self._first_nonfinite)
        return None if step < 0 else step

    @property
    def pooled(self) -> bool:
        """Whether the objective draws from a pool it refreshes (:class:`icrl.streams.Pooled`)."""
        return hasattr(self.objective, "pool")

    def check_data(self, data) -> None:
        """Raise unless ``data`` is what this objective trains on: ``None`` for one that makes its own."""
        own = hasattr(self.objective, "stream") or self.pooled
        if (data is None) != own:
            raise ValueError("a streamed objective makes its own data: pass data=None" if own
                             else "training data is missing (data=None); only a streamed objective makes its own")

    def put_data(self, data, step: int = 0) -> Samples:
        """The training samples (or a :class:`icrl.data.Dataset`'s) whole on every device, so that
        every row of a batch is drawn from all of them (:meth:`_sample`). Every process passes the
        same host data. A streamed objective (:class:`icrl.streams.Streamed`) makes its own batches
        and takes ``data=None``; a pooled one (:class:`icrl.streams.Pooled`) takes ``data=None`` and
        returns its pool of step ``step``, one shard per device."""
        self.check_data(data)
        if self.pooled:
            return self._pool_at(jnp.asarray(step, jnp.int32))
        if data is None:  # a stream: a dummy task (a stream makes its own data)
            zeros = np.zeros((1, 1), np.int32)
            data = Samples(History(zeros, zeros, zeros.astype(np.float32), zeros, zeros.astype(bool)))
        data = jax.tree.map(np.asarray, getattr(data, "samples", data))
        if _weighted(data):
            weights = data.weights
            if weights.shape != (data.num_tasks,) or not np.all(np.isfinite(weights)) or (weights < 0).any() or not weights.any():
                raise ValueError(f"sampling weights must be ({data.num_tasks},), finite, >= 0 and not all 0; got shape "
                                 f"{weights.shape}, sum {weights.sum()!r}")
        return self._replicate(data)

    def advance_data(self, data: Samples, step: int) -> Samples:
        """The data the batch of step ``step`` is drawn from, given the previous step's: ``data``
        itself, or a pooled objective's pool with a chunk refreshed where one is due (on device;
        the old pool is donated)."""
        if self.pooled and self._local_pool.due(step):
            return self._refresh(data, jnp.asarray(step, jnp.int32))
        return data

    def _per_device_pool(self, method: str, *args):
        """``local_pool.method(key, *args)`` on each device's shard of the pool, with the device's own key."""
        pool, key = self._local_pool, jax.random.fold_in(self.key, 3)

        def per_shard(*args):
            return getattr(pool, method)(jax.random.fold_in(key, jax.lax.axis_index("data")), *args)

        specs = tuple(PartitionSpec("data") if isinstance(a, Samples) else PartitionSpec() for a in args)
        return jax.shard_map(per_shard, mesh=self.mesh, in_specs=specs, out_specs=PartitionSpec("data"), check_vma=False)(*args)

    def _make_pool(self, step):
        return self._per_device_pool("at_step", step)

    def _refresh_pool(self, data, step):
        return self._per_device_pool("advance", data, step)


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
    :class:`icrl.data.Dataset`; ``None`` for an objective that makes its own: a stream, a
    pool of histories, an objective with an update of its own); returns ``(params, logs)``.

    With ``run_dir``, checkpoints go to ``run_dir/checkpoints`` and metrics to
    ``run_dir/metrics.jsonl``, and the directory is locked against a second run.
    An existing checkpoint made by the same model, data and settings is resumed
    (a different one raises :class:`CheckpointError`); if the newest cannot be read
    it is set aside (renamed, not deleted) and the next older one is resumed.
    A non-finite loss or gradient stops the run with :class:`NonFiniteError` naming
    the step, before anything non-finite is saved. ``stop_after`` ends this call
    after that many steps in total (as a kill would).
    """
    # an objective with its own update (PPO) brings its trainer; the loop around it is this one
    trainer = objective.make_trainer(model, cfg) if hasattr(objective, "make_trainer") else Trainer(model, objective, cfg)
    trainer.check_data(data)
    state = trainer.init_state()
    record = {"model": model_record(model), "train": dataclasses.asdict(cfg), **(record or {})}
    lead = jax.process_index() == 0  # the process that writes metrics and shows progress
    with ExitStack() as stack:
        checkpoints = metrics_file = events = None
        offset = 0.0  # training seconds spent before a resumed checkpoint: elapsed_s counts the whole run
        if run_dir is not None:
            os.makedirs(run_dir, exist_ok=True)
            if lead:
                stack.enter_context(RunLock(run_dir))
            checkpoints = stack.enter_context(Checkpoints(os.path.join(run_dir, "checkpoints"), cfg.keep_checkpoints))
            state = _resume(checkpoints, state, record, trainer.replicated)
            logged = read_metrics(run_dir)
            offset = _elapsed_so_far(logged)
            if lead:
                _truncate_metrics(run_dir, logged, int(state.step))
                metrics_file = stack.enter_context(open(os.path.join(run_dir, "metrics.jsonl"), "a"))
                if cfg.tensorboard:
                    from tensorboardX import SummaryWriter

                    events = stack.enter_context(SummaryWriter(os.path.join(run_dir, "tensorboard")))
        logs: list[dict] = []
        start = int(state.step)
        end = cfg.train_steps if stop_after is None else min(cfg.train_steps, stop_after)
        if start < end:  # a pooled objective's pool is that of the first step to run
            data = trainer.put_data(data, start)
        bar = stack.enter_context(_progress(start, cfg.train_steps, progress and lead))
        check_every = min(cfg.log_interval, 10)
        t0 = time.perf_counter()
        for step in range(start, end):
            state, loss = trainer.step(state, data)
            done = step + 1
            data = trainer.advance_data(data, done)
            logging = done % cfg.log_interval == 0 or done == cfg.train_steps
            saving = checkpoints is not None and (done % cfg.checkpoint_interval == 0 or done == end)
            if logging or saving or done % check_every == 0 or done == end:
                _stop_if_nonfinite(trainer, checkpoints, metrics_file, done)
            if logging:
                figures = loss if isinstance(loss, dict) else {"loss": loss}
                entry = {"step": done, **{k: float(v) for k, v in figures.items()},
                         "elapsed_s": round(offset + time.perf_counter() - t0, 3)}
                if eval_fn is not None and (done == cfg.train_steps or (cfg.eval_every and done % cfg.eval_every == 0)):
                    entry.update(eval_fn(state.params))
                logs.append(entry)
                if metrics_file:
                    metrics_file.write(json.dumps(entry, allow_nan=False) + "\n")
                    metrics_file.flush()
                if events is not None:
                    for name, value in entry.items():
                        if name != "step" and isinstance(value, (int, float)):
                            events.add_scalar(name, value, done)
                    events.flush()
                bar.update(done, entry)
            if saving:
                checkpoints.save(state, record)
    return jax.device_get(state.params), logs


def _weighted(data) -> bool:
    """Whether ``data`` is drawn by per-task weights (static: the pytree's structure says so)."""
    return isinstance(data, Samples) and data.weights is not None


def _resume(checkpoints: Checkpoints, state: TrainState, record: dict, sharding) -> TrainState:
    """The newest readable checkpoint's state (``state`` itself if there is none). One made by
    another config raises; an unreadable one is set aside with a warning and the next older tried."""
    for step in reversed(checkpoints.all_steps()):
        try:
            return jax.device_put(checkpoints.restore(state, record, step), sharding)
        except UnreadableCheckpointError as err:
            moved = checkpoints.set_aside(step, rename=jax.process_index() == 0)
            warnings.warn(f"{err}; moved it to {moved} and resuming from the checkpoint before it", stacklevel=3)
    return state


def _stop_if_nonfinite(trainer: Trainer, checkpoints, metrics_file, done: int) -> None:
    bad = trainer.first_nonfinite_step()
    if bad is None:
        return
    last = checkpoints.latest_step() if checkpoints is not None else None
    where = f"the last good checkpoint is {checkpoints.directory}/{last}" if last is not None else "no checkpoint was written"
    message = f"training diverged: the loss or a gradient was not finite at step {bad}; stopped at step {done} without saving; {where}"
    if metrics_file:
        metrics_file.write(json.dumps({"step": bad, "error": "non-finite loss or gradient"}) + "\n")
        metrics_file.flush()
    raise NonFiniteError(message)


def _elapsed_so_far(logged: list[dict]) -> float:
    """The largest ``elapsed_s`` of a run's metrics ``logged`` (0 without one): the training time spent
    so far, including steps logged after the checkpoint a run resumes from, which a kill lost and the
    resumed run trains again (their time was spent all the same)."""
    return max((float(e["elapsed_s"]) for e in logged if "elapsed_s" in e), default=0.0)


def _truncate_metrics(run_dir: str, logged: list[dict], step: int) -> None:
    """Rewrite the run's metrics ``logged`` without the steps after ``step``, the checkpoint a run
    resumes from: they are logged again as the run redoes them, so the log holds every step once
    (written atomically)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return
    kept = [e for e in logged if e.get("step", 0) <= step]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(json.dumps(e, allow_nan=False) + "\n" for e in kept)
    os.replace(tmp, path)


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

    def __enter__(self) -> "_progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
