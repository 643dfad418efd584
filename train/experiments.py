"""Running a named experiment: generate data → pretrain → evaluate in context on held-out tasks → results and plot."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp

import envs
from envs.base import is_bandit, signature
from icrl.agents import make_agent
from icrl.checkpoints import PACING_KEYS, CheckpointError, UnreadableCheckpointError, check_record, model_record
from icrl.data import apply_lhf, load_dataset, read_meta, save_dataset
from icrl.evaluate import evaluate_online
from icrl.models import TokenSpec, make_model
from icrl.plot import plot_results
from icrl.results import format_table, load_results, provenance, save_results
from icrl.runlock import RunLock
from icrl.runs import load_params, open_checkpoints, read_metrics
from icrl.training import Trainer, train
from train.configs import ExperimentConfig, config_from_dict, replace


def _make_data(cfg: ExperimentConfig, env, key, num_tasks: int):
    data = _make_raw_data(cfg, env, key, num_tasks)
    if cfg.lhf or cfg.lhf_keep < 1:
        data = apply_lhf(data, cfg.lhf_stability, cfg.lhf_keep)
    return data


def _make_raw_data(cfg: ExperimentConfig, env, key, num_tasks: int):
    return cfg.method_def.make_data(cfg, env, key, num_tasks)


def validation_data(cfg: ExperimentConfig, env):
    """Fresh contexts or histories of training-split tasks, made like the training data with
    another key: the loss on them (the validation loss) says whether the model learned the
    distribution or memorised its dataset. Never filtered nor weighted by learning-history
    filtering, so an LHF run's figure compares with a plain run's on the same source."""
    num_tasks = max(256, min(2000, cfg.num_train_tasks // 10))
    return _make_raw_data(cfg, env, jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 12), num_tasks)


def _dataset(cfg: ExperimentConfig, env, run_dir: str):
    """Generate the training data, or reuse the copy saved by an earlier run of the same data config."""
    path = os.path.join(run_dir, "dataset.npz")
    if not os.path.exists(path):
        _link_shared_dataset(cfg, run_dir, path)
    if os.path.exists(path):
        try:
            data = load_dataset(path, env)  # its fingerprint names the method that made it
        except ValueError as err:  # made for another environment or objective: make a new one
            print(f"regenerating {path}: {err}")
        else:
            if data.meta.get("fingerprint") != cfg.data_fingerprint():
                print(f"regenerating {path}: it was made from another data config")
            elif stale := cfg.method_def.stale_data(cfg, data):
                print(f"regenerating {path}: {stale}")
            else:
                return data
    data = _make_data(cfg, env, jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 11), cfg.num_train_tasks)
    data.meta["fingerprint"] = cfg.data_fingerprint()
    if jax.process_index() == 0:  # every process made the same data; one writes it
        save_dataset(data, path)
    return data


def _link_shared_dataset(cfg: ExperimentConfig, run_dir: str, path: str) -> None:
    """Reuse a dataset another run in the same output directory made from the same data settings and seed (its
    fingerprint): presets that differ only in the model or training (AD with another backbone or layer) share their
    data instead of each making it. The file is hard-linked (copied where links are not possible); saves replace files
    atomically, so neither run can change the other's copy."""
    parent = os.path.dirname(os.path.normpath(run_dir))
    fingerprint = json.loads(json.dumps(cfg.data_fingerprint()))  # as a saved dataset holds it
    for other in sorted(os.listdir(parent)) if os.path.isdir(parent) else ():
        candidate = os.path.join(parent, other, "dataset.npz")
        if os.path.join(parent, other) == os.path.normpath(run_dir) or not os.path.exists(candidate):
            continue
        if (read_meta(candidate) or {}).get("fingerprint") == fingerprint:
            os.makedirs(run_dir, exist_ok=True)
            try:
                os.link(candidate, path)
            except FileExistsError:
                return
            except OSError:
                shutil.copyfile(candidate, path)
            print(f"dataset: {candidate}'s (same data settings and seed)")
            return


@dataclass(frozen=True)
class Setup:
    """What an experiment builds before any long work: environments, tokens, objective, model."""

    env: object
    eval_env: object
    spec: TokenSpec
    objective: object
    model: object

    def record(self, cfg: ExperimentConfig) -> dict:
        """What the checkpoint records and a resumed run must match: derived from the config."""
        return {"env": signature(self.env), "experiment": cfg.trained_fields(), "model": model_record(self.model),
                "train": dataclasses.asdict(cfg.train)}


def build(cfg: ExperimentConfig) -> Setup:
    """Build and check an experiment's pieces (cheap: no data, no training). Raises
    ``ValueError`` for a config that could not run to the end, e.g. an evaluation
    longer than the transformer's context or an AD window longer than the histories."""
    method = cfg.method_def
    env, _ = envs.make(cfg.env, **cfg.env_kwargs())
    eval_env, _ = envs.make(cfg.env, **cfg.eval_env_kwargs())
    method.check_env(cfg, env)  # before the method's pieces, which may read what the environment must have
    spec = method.token_spec(cfg, env)
    eval_steps = cfg.eval_episodes * eval_env.horizon
    objective, seq_len = method.objective(cfg, env, spec)
    model_kwargs = dict(num_layers=cfg.num_layers, width=cfg.width, dropout=cfg.dropout)
    if cfg.backbone == "transformer":
        model_kwargs.update(num_heads=cfg.num_heads, max_len=seq_len, position_encoding=cfg.position_encoding, ffn=cfg.ffn,
                            embedding=cfg.embedding,
                            expert_hidden=cfg.expert_hidden, output_basis=cfg.basis)
    elif cfg.backbone == "s5":
        model_kwargs.update(state_size=cfg.state_size)
    for name, plain in (("ffn", "dense"), ("embedding", "linear"), ("basis", 0)):
        if cfg.backbone != "transformer" and getattr(cfg, name) != plain:
            raise ValueError(f"{name}={getattr(cfg, name)!r} is a transformer option; the {cfg.backbone} backbone has none")
    model_kwargs.update(method.model_settings(cfg, objective))
    model = make_model(cfg.backbone, spec.token_dim, getattr(objective, "num_outputs", env.num_actions), **model_kwargs)
    limit = getattr(model, "context_limit", None)
    window = cfg.deploy_window * eval_env.horizon
    if limit is not None and window > limit:
        raise ValueError(f"deploy_window={cfg.deploy_window} episodes ({window} steps) exceeds the transformer's learned positions "
                         f"(max_len={limit}, the training length); take at most {limit // eval_env.horizon} episodes")
    if limit is not None and eval_steps > limit and not window:
        raise ValueError(
            f"evaluating {eval_steps} steps in context exceeds the transformer's learned positions (max_len={limit}, "
            f"the training length); use relative positions (alibi or rotary: a sliding window), windows of whole episodes "
            f"(deploy_window), the s5 backbone or a shorter evaluation"
        )
    if eval_steps > seq_len:
        print(f"note: evaluating {eval_steps} steps in context, trained on sequences of {seq_len}: the model keeps "
              f"{method.deployed_memory(cfg, seq_len)}")
    for name in cfg.baselines:  # unknown names, or a baseline this environment cannot run, fail here
        make_agent(name, eval_env)
    return Setup(env, eval_env, spec, objective, model)


def check_run_dir(run_dir: str, record: dict) -> None:
    """Refuse, before any data or training, a run directory whose checkpoint another config made."""
    try:
        checkpoints = open_checkpoints(run_dir)
    except FileNotFoundError:
        return
    with checkpoints:
        for step in reversed(checkpoints.all_steps()):
            try:
                saved = checkpoints.read_record(step)
            except UnreadableCheckpointError:
                continue  # damaged: training sets it aside and resumes from the one before (icrl.training.train)
            try:
                check_record(saved, record, f"the checkpoint in {run_dir!r}")
            except CheckpointError as err:
                raise CheckpointError(
                    f"{err}. Keep both with --run-name NEW (or another --out-dir), or delete {run_dir!r} to train it "
                    f"again (--train-steps shapes the learning-rate schedule, so a finished run is not extended in place)"
                ) from None
            return


def check_run_name(name: str) -> str:
    """``name`` if it can name a run directory (one path component), else a ``ValueError``."""
    if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"a run name is one directory name (no '{os.sep}'), got {name!r}")
    return name


def check_writable(run_dir: str) -> None:
    """Refuse, before any work, a run directory that cannot be made or written."""
    try:
        os.makedirs(run_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ValueError(f"cannot write the run directory {run_dir!r} ({err.strerror or err}); choose another --out-dir") from None


def run(cfg: ExperimentConfig, name: str = "experiment", progress: bool = True) -> dict:
    """Generate data, pretrain (resuming a checkpoint of the same config), evaluate on held-out tasks."""
    setup = build(cfg)
    run_dir = os.path.join(cfg.out_dir, check_run_name(name))
    record = setup.record(cfg)
    check_writable(run_dir)  # makes the directory
    check_run_dir(run_dir, record)
    if jax.process_index() != 0:  # another process of a distributed run: its share of the training, nothing more
        return _run_locked(cfg, name, setup, run_dir, record, False)
    with RunLock(run_dir):  # one writer per run directory, from data to results
        return _run_locked(cfg, name, setup, run_dir, record, progress)


def _run_locked(cfg: ExperimentConfig, name: str, setup: Setup, run_dir: str, record: dict, progress: bool) -> dict:
    env, eval_env, spec, objective, model = setup.env, setup.eval_env, setup.spec, setup.objective, setup.model
    t0 = time.perf_counter()
    data = samples = None
    if cfg.data_source == "fixed" and cfg.method_def.supervised:
        data = _dataset(cfg, env, run_dir)
        samples = data.samples
        print(f"[{name}] data: {data.num_tasks} {cfg.objective.upper()} tasks from {data.meta['source']['name']} "
              f"({time.perf_counter() - t0:.1f}s)")
    else:
        print(f"[{name}] data: {cfg.method_def.describe_data(cfg)}")
    gen_s = time.perf_counter() - t0
    extra = {k: v for k, v in record.items() if k not in ("model", "train")}
    t0 = time.perf_counter()
    params, logs = train(model, objective, samples, cfg.train, run_dir=run_dir, record=extra, progress=progress)
    train_s = time.perf_counter() - t0
    if jax.process_index() != 0:
        return {}  # process 0 evaluates and writes the results
    metrics = [e for e in read_metrics(run_dir) if "loss" in e]  # across resumes: elapsed_s is the whole run's training time
    if metrics:
        train_s, final_train_loss = metrics[-1]["elapsed_s"], metrics[-1]["loss"]
    else:
        final_train_loss = logs[-1]["loss"] if logs else None
    fixed_objective = getattr(objective, "objective", objective)  # validation contexts are a fixed set, streamed or not
    validation_loss = None  # without labels (meta-RL) nothing scores held-out data: the held-out figure is the evaluation
    if cfg.method_def.supervised:
        validation_loss = Trainer(model, fixed_objective, cfg.train).mean_loss(params, validation_data(cfg, env).samples)
    results = evaluate(cfg, eval_env, model, spec, params)
    results.update(
        experiment=name, config=dataclasses.asdict(cfg), train_seconds=round(train_s, 1), data_seconds=round(gen_s, 1),
        backend=f"{jax.device_count()} {jax.default_backend()}",
        final_loss=validation_loss, final_train_loss=final_train_loss,
        checkpoint=os.path.abspath(os.path.join(run_dir, "checkpoints")),
        # the record the run's checkpoints carry, and the devices it trained on
        provenance=provenance(record, f"{cfg.train.num_devices or jax.device_count()} {jax.default_backend()}"),
        **cfg.method_def.training_results(cfg, metrics),
    )
    results_path, plot = _write_results(cfg, env, results, run_dir)
    losses = (f"last PPO loss {final_train_loss:.4f}" if validation_loss is None
              else f"validation loss (fresh training-split contexts) {validation_loss:.4f} (last batch {final_train_loss:.4f})")
    print(f"training: {train_s:.0f}s on {jax.device_count()} {jax.default_backend()} device(s); {losses}; results: {results_path}")
    print(f"plot: {plot}")
    return results


def evaluate_run(run_dir: str, **changes) -> dict:
    """Evaluate the model saved in ``run_dir`` again, without training, with evaluation settings
    ``changes`` (``eval_split``, ``eval_tasks``, ``eval_episodes``, ``eval_horizon``, ``baselines``, ``deploy_window``, and
    the method's deployment settings such as DICP's ``beam_widths`` and ``plan_depth``);
    writes ``results_eval[_train][_ood].json`` and its plot beside the run's own results."""
    saved = next((os.path.join(run_dir, f) for f in ("results.json", "results_train.json") if os.path.exists(os.path.join(run_dir, f))), None)
    if saved is None:
        raise FileNotFoundError(f"no results.json in {run_dir!r}: it holds the run's config; run the experiment to the end first")
    made = load_results(saved)
    cfg = config_from_dict(made.get("config") or {})
    # the common evaluation settings, and the run's method's deployment settings (DICP's beam widths)
    allowed = {"eval_split", "eval_tasks", "eval_pool_sample", "eval_episodes", "eval_horizon", "eval_mean_range", "baselines", "deploy_window",
               *cfg.method_fields("eval")}
    if set(changes) - allowed:
        raise ValueError(f"only evaluation settings can change: {sorted(set(changes) - allowed)} are not among {sorted(allowed)}")
    cfg = replace(cfg, **changes)
    setup = build(cfg)
    record = setup.record(cfg)
    params = load_params(run_dir, setup.model, {k: v for k, v in record.items() if k not in ("model", "train")})
    results = evaluate(cfg, setup.eval_env, setup.model, setup.spec, params)
    results.update(experiment=os.path.basename(os.path.normpath(run_dir)), config=dataclasses.asdict(cfg),
                   checkpoint=os.path.abspath(os.path.join(run_dir, "checkpoints")),
                   provenance=provenance(record, (made.get("provenance") or {}).get("devices")))
    path, plot = _write_results(cfg, setup.env, results, run_dir, prefix="_eval")
    print(f"results: {path}\nplot: {plot}")
    return results


def _write_results(cfg: ExperimentConfig, env, results: dict, run_dir: str, prefix: str = "") -> tuple[str, str]:
    """Save ``results`` as ``results{prefix}[_train][_ood].json`` with its plot, and print its table;
    returns both paths. Out-of-distribution settings are recorded in the results."""
    suffix = prefix + ("" if cfg.eval_split == "test" else f"_{cfg.eval_split}")
    if cfg.eval_horizon or cfg.eval_mean_range:
        results["out_of_distribution"] = cfg.eval_env_kwargs()
        suffix += "_ood"
    path = save_results(results, os.path.join(run_dir, f"results{suffix}.json"))
    plot = plot_results(results, os.path.join(run_dir, ("regret" if is_bandit(env) else "returns") + suffix + ".png"))
    print(format_table(results))
    return path, plot


def saved_results(cfg: ExperimentConfig, name: str, suffix: str = "") -> dict | None:
    """The results ``run(cfg, name)`` saved (``results{suffix}.json``), if they were made with
    ``cfg``: fields added since hold their reproducing values (:func:`without_added_defaults`), and
    training settings that do not shape the model (:data:`icrl.checkpoints.PACING_KEYS`: a
    checkpoint resumes across them) may differ, as may ``out_dir`` (the same directory named
    another way: absolute or relative)."""
    path = os.path.join(cfg.out_dir, name, f"results{suffix}.json")
    if not os.path.exists(path):
        return None
    saved = load_results(path)

    def same(c: ExperimentConfig) -> dict:  # training settings that do not shape the model, and where runs live, left out
        c = dataclasses.asdict(c)
        c["train"] = {k: v for k, v in c["train"].items() if k not in PACING_KEYS}
        c.pop("out_dir")
        return c

    try:
        made_with = config_from_dict(saved.get("config") or {})
    except (ValueError, TypeError):  # made by another version, with fields this one does not know
        return None
    return saved if same(made_with) == same(cfg) else None


def _finite_pool(env) -> bool:
    """Whether ``env``'s split is a finite pool of tasks, each evaluated (a grid world's goals), rather than a
    distribution to draw from (bandits, POPGym's episodes)."""
    return hasattr(env, "task_pool")


def pool_sample_size(cfg: ExperimentConfig, env) -> int:
    """How many tasks of a grid world's ``cfg.eval_split`` pool the evaluation runs on: ``eval_pool_sample``
    where it is smaller than the pool, else the whole pool."""
    size = env.num_tasks_in(cfg.eval_split)
    return cfg.eval_pool_sample if 0 < cfg.eval_pool_sample < size else size


def evaluation_tasks(cfg: ExperimentConfig, env, key):
    """The tasks of ``cfg.eval_split`` to evaluate on: ``eval_tasks`` tasks drawn from the split, or for an
    environment with a finite pool of tasks (a grid world's goals) its whole pool (``eval_pool_sample``:
    that many of its tasks, drawn without replacement with ``key``), every task repeated (each copy runs
    with its own key) until there are at least ``eval_tasks`` rollouts."""
    if not _finite_pool(env):
        return env.sample_tasks(key, cfg.eval_tasks, cfg.eval_split)
    pool, whole = env.task_pool(cfg.eval_split), env.num_tasks_in(cfg.eval_split)
    size = pool_sample_size(cfg, env)
    if size < whole:
        chosen = jnp.sort(jax.random.permutation(key, whole)[:size])
        pool = jax.tree.map(lambda x: x[chosen], pool)
    copies = -(-cfg.eval_tasks // size)
    return jax.tree.map(lambda x: jnp.concatenate([x] * copies), pool)


def evaluate(cfg: ExperimentConfig, env, model, spec, params) -> dict:
    """Model (online, sampling) and baselines on the same tasks of ``cfg.eval_split`` with the same
    keys; for DPT on bandits also the offline (greedy, fixed-context) comparison."""
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 99)
    tasks = evaluation_tasks(cfg, env, jax.random.fold_in(key, 0))
    agents = {**cfg.method_def.agents(cfg, params, model, spec), **{name: name for name in cfg.baselines}}
    num_tasks, num_steps = int(jax.tree.leaves(tasks)[0].shape[0]), cfg.eval_episodes * env.horizon
    print(f"evaluating {len(agents)} agents on {num_tasks} {cfg.eval_split}-split tasks x {num_steps} steps")
    results = evaluate_online(env, agents, tasks, jax.random.fold_in(key, 1), num_steps, cfg.seed, split=cfg.eval_split,
                              report=lambda name, seconds: print(f"  {name}: {seconds:.0f}s", flush=True))
    if _finite_pool(env):
        whole = env.num_tasks_in(cfg.eval_split)
        results["num_goals"] = pool_sample_size(cfg, env)
        if results["num_goals"] < whole:
            results["pool_size"] = whole  # a sample of the split's tasks
    results.update(cfg.method_def.extra_results(cfg, env, model, spec, params, tasks, jax.random.fold_in(key, 2)))
    return results
