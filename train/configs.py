"""Experiment configurations: :class:`ExperimentConfig` and the named presets (CPU defaults, paper scale).

An experiment's settings are the common ones (environment, data size, model, training,
evaluation: fields of :class:`ExperimentConfig`) and its method's own section
(``cfg.method``, the method's ``Config``: :mod:`train.methods`), which ``cfg.objective``
names. Every field belongs to a group that says what changing it changes (:mod:`train.fields`).

A checkpoint's record holds every field of the env, data, objective and model groups, the
method's section and the training settings, derived from the config itself, so no change
to data or model can reuse a stale model (``train.experiments`` refuses it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import envs
from envs.base import accepted_keywords, check_positive_int, keyword_defaults
from icrl.data import MIN_LHF_EPISODES
from icrl.models import BACKBONES as MODEL_BACKBONES
from icrl.models.transformer import EMBEDDINGS, FEED_FORWARDS, POSITION_ENCODINGS
from icrl.training import TrainConfig
from train import methods, presets
from train.fields import GROUPS, TRAINED_GROUPS, setting as _field

__all__ = ["GROUPS", "TRAINED_GROUPS", "ExperimentConfig", "EXPERIMENTS", "config_for", "config_from_dict", "replace"]
BACKBONES = tuple(MODEL_BACKBONES)  # the backbones icrl.models builds


@dataclass(frozen=True)
class ExperimentConfig:
    objective: str = _field("dpt", "data", "the method (train.methods): dpt | ad | rl2 …; its own settings are cfg.method")
    env: str = _field("bernoulli-bandit", "env", "environment name (envs.make)")
    backbone: str = _field("transformer", "model", "transformer | s5 | gru | mlp (memoryless: each step's token alone)")
    # environment
    num_arms: int = _field(5, "env", "bandits: arms")
    horizon: int = _field(100, "env", "steps per episode")
    size: int = _field(10, "env", "grid worlds: side of the room")
    dim: int = _field(2, "env", "linear bandit: feature dimension")
    basis: int = _field(0, "env", "Bayesian optimisation: a query is seen through the grid's first K x K products of cosines, and a "
                        "transformer scores the candidates through them, so that near candidates look and score alike (0: one-hot "
                        "column and row, a free logit per candidate)")
    level: str = _field("", "env", "POPGym's tasks: easy, medium or hard, POPGym's sizes (empty: easy)")
    env_args: tuple[str, ...] = _field((), "env", "the environment's own settings beyond these, NAME=VALUE each (projected: "
                                       "obs_size=4 keep_obs=0,2), read as the type of the constructor's default")
    split_seed: int = _field(0, "env", "grid worlds: K >= 1 makes a fold to choose settings on: the benchmark's training goals alone split "
                             "again by seed K into fold-training and fold-held-out goals (0: the benchmark's split)")
    # data
    num_train_tasks: int = _field(20_000, "data", "tasks in the pretraining dataset")
    context_episodes: int = _field(1, "data", "episodes per context (DPT), per training window (AD), per trial (meta-RL)")
    data_source: str = _field("fixed", "data", "fixed (a dataset made once, sampled from) | stream (made on device: DPT fresh "
                              "training-split tasks and contexts inside every step; AD a pool of learning histories, refreshed in chunks)")
    lhf: bool = _field(False, "data", "learning-history filtering: draw histories in proportion to improvement + lhf_stability x stability")
    lhf_keep: float = _field(1.0, "data", "learning-history filtering: fraction of histories kept (the rest weigh 0)")
    lhf_stability: float = _field(1.0, "data", "learning-history filtering: the weight lambda of stability")
    # model
    num_layers: int = _field(3, "model", "blocks (transformer) or layers (S5, GRU)")
    # 2 heads: 1.19x the steps/s of 4 on CPU at width 64
    num_heads: int = _field(2, "model", "transformer heads")
    width: int = _field(64, "model", "model width (embedding and hidden size)")
    state_size: int = _field(64, "model", "S5 state size")
    ffn: str = _field("dense", "model", "transformer feed-forward: dense | t2mir (token-wise and task-wise mixtures of experts in the last block; "
                    "the task router's contrastive loss needs AD's paired windows: with DPT only the balance loss trains; "
                    "trains in one piece, whatever --microbatches)")
    expert_hidden: int = _field(64, "model", "t2mir: hidden width of each expert")
    position_encoding: str = _field("alibi", "model", "transformer: alibi or rotary (relative: run past the training length in a sliding window) | learned")
    embedding: str = _field("linear", "model", "transformer token embedding: linear | mlp (Dense, GELU, Dense: a token's "
                            "features combine before the first attention)")
    dropout: float = _field(0.0, "model", "dropout rate while training, in [0, 1)")
    # optimisation
    train: TrainConfig = _field(TrainConfig(), "train")
    # evaluation
    eval_tasks: int = _field(1000, "eval", "evaluation rollouts: bandit tasks, or grid-world rollouts spread evenly over the split's whole goal pool "
                           "(or over --eval-pool-sample tasks of it)")
    eval_pool_sample: int = _field(0, "eval", "grid worlds: evaluate on this many tasks of the split's pool, drawn once per seed "
                                   "(0: every task; a sample for an agent too costly for the whole pool)")
    eval_split: str = _field("test", "eval", "test (held-out tasks) | train (training-split tasks: to choose settings on)")
    eval_episodes: int = _field(1, "eval", "episodes per task, in one context")
    deploy_context: tuple[str, ...] = _field(("step",), "eval", "how the model's context grows while it acts: step (every step) and/or episode (earlier episodes only, held fixed during an episode)")
    deploy_window: int = _field(0, "eval", "act from a context that has seen between N/2 and N whole episodes (two contexts take in "
                                "every step, restarted in turn every N episodes; N even; 0: one context over everything, where a "
                                "transformer slides a window of its training length)")
    baselines: tuple[str, ...] = _field(("random", "ucb", "thompson"), "eval", "agents evaluated beside the model")
    eval_horizon: int = _field(0, "eval", "out of distribution: another horizon (0: the training one)")
    eval_mean_range: tuple[float, ...] = _field((), "eval", "out of distribution: bandit arm means from [low, high]")
    out_dir: str = _field("runs", "output", "runs are written to OUT_DIR/NAME")
    scale: str = _field("cpu", "output", "cpu | paper: which preset the other defaults came from")
    # the method's own settings (its Config; None: its defaults)
    method: Any = _field(None, "method", "the settings of the method cfg.objective names (train.methods)")

    def __post_init__(self):
        method = methods.get(self.objective)  # an unknown name is refused, naming the registered ones
        if self.method is None:
            object.__setattr__(self, "method", method.Config())
        elif not isinstance(self.method, method.Config):
            raise ValueError(f"objective={self.objective!r} takes its settings as {method.Config.__name__}, got "
                             f"{type(self.method).__name__} (train.configs.replace changes both together)")
        for name in ("num_arms", "horizon", "size", "dim", "num_train_tasks", "context_episodes", "num_layers", "num_heads",
                     "width", "state_size", "expert_hidden", "eval_tasks", "eval_episodes"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("eval_horizon", self.eval_horizon, minimum=0)
        check_positive_int("eval_pool_sample", self.eval_pool_sample, minimum=0)
        check_positive_int("deploy_window", self.deploy_window, minimum=0)
        check_positive_int("split_seed", self.split_seed, minimum=0)
        check_positive_int("basis", self.basis, minimum=0)
        if self.env not in envs.REGISTRY:
            from train.plugins import load_plugins

            load_plugins()  # a plug-in's environment
            if self.env not in envs.REGISTRY:
                raise ValueError(f"unknown environment {self.env!r}; valid names: {sorted(envs.REGISTRY)}")
        if self.basis and not _takes(self.env, "basis"):
            raise ValueError(f"basis={self.basis} codes the candidates of Bayesian optimisation's grid; environment {self.env!r} has none")
        parse_env_args(self.env, self.env_args)  # refused here, in one line, before any work
        if self.level and not _takes(self.env, "level"):
            raise ValueError(f"level={self.level!r} sizes POPGym's tasks; environment {self.env!r} has no levels")
        if self.split_seed and not _takes(self.env, "split_seed"):
            grids = ", ".join(n for n, c in envs.REGISTRY.items() if "split_seed" in (accepted_keywords(c) or ()))
            raise ValueError(f"split_seed splits a grid world's goals ({grids}); environment {self.env!r} has no "
                             f"fixed split, got split_seed={self.split_seed}")
        if self.deploy_window and (self.deploy_window % 2 or self.backbone == "mlp"):
            raise ValueError(f"deploy_window={self.deploy_window} needs an even number of episodes and a backbone with a context "
                             f"(transformer, s5, gru); an mlp sees one step")
        for name, allowed in (("backbone", BACKBONES), ("ffn", FEED_FORWARDS), ("position_encoding", POSITION_ENCODINGS),
                              ("embedding", EMBEDDINGS), ("scale", ("cpu", "paper")), ("eval_split", ("train", "test")), ("data_source", ("fixed", "stream"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not self.deploy_context or not set(self.deploy_context) <= {"step", "episode"}:
            raise ValueError(f"deploy_context takes 'step' and/or 'episode', got {self.deploy_context!r}")
        if not 0 < self.lhf_keep <= 1:
            raise ValueError(f"lhf_keep must be in (0, 1], got {self.lhf_keep!r}")
        if self.data_source == "stream" and (self.lhf or self.lhf_keep < 1):
            raise ValueError("learning-history filtering weighs a fixed set of histories; use data_source='fixed' with lhf")
        if self.lhf or self.lhf_keep < 1:
            episodes = method.lhf_episodes(self)
            if episodes is None:
                raise ValueError(f"learning-history filtering (lhf, lhf_keep) does not apply to {method.label}: its training "
                                 f"data are not drawn by the filter's weights")
            if episodes[0] < MIN_LHF_EPISODES:
                raise ValueError(f"learning-history filtering scores improvement across episodes: it needs "
                                 f"{episodes[1]} >= {MIN_LHF_EPISODES}, got {episodes[0]} (with one episode every history "
                                 f"scores the same)")
        if self.ffn == "t2mir" and not method.supervised:
            raise ValueError(f"ffn='t2mir' trains its auxiliary losses with the supervised methods, not with {method.label}")
        method.check(self)
        if self.data_source not in method.data_sources:  # a method that does not stream says so, in its check or here
            raise ValueError(f"method {method.name!r} trains on {' or '.join(method.data_sources)} data: data_source must be "
                             f"one of {method.data_sources}, got {self.data_source!r}")

    def __getattr__(self, name: str):
        """A setting of the method's section read as if it were common (``cfg.source`` is ``cfg.method.source``)."""
        section = self.__dict__.get("method")
        if section is not None and name in {f.name for f in dataclasses.fields(section)}:
            return getattr(section, name)
        raise AttributeError(f"{type(self).__name__} has no field {name!r}"
                             + (f" (its method {self.objective!r} has no such setting)" if section is not None else ""))

    @property
    def method_def(self) -> methods.Method:
        """The registered :class:`train.methods.Method` that ``objective`` names."""
        return methods.get(self.objective)

    @property
    def seed(self) -> int:
        """One seed for data, initialisation and evaluation keys."""
        return self.train.seed

    def fields_of(self, *groups: str) -> dict:
        """The values of every field in ``groups`` (JSON-able)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.metadata["group"] in groups:
                value = getattr(self, f.name)
                out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        return out

    def method_fields(self, *groups: str) -> dict:
        """The method's settings (those of ``groups`` only, when given)."""
        return {f.name: getattr(self.method, f.name) for f in dataclasses.fields(self.method)
                if not groups or f.metadata.get("group") in groups}

    def data_fingerprint(self) -> dict:
        """Everything the pretraining dataset depends on: a saved dataset is reused only if this matches."""
        extras = {k: v for k, v in self.method_def.record_extras(self).items() if methods.group_of(k) in ("env", "data")}
        return without_added_defaults({**extras, **self.fields_of("env", "data"), **self.method_fields("env", "data"),
                                       "seed": self.seed})

    def trained_fields(self) -> dict:
        """Every field that shapes the data or the trained parameters, the method's settings
        included, as one flat dict (the training settings are recorded on their own, by
        :func:`icrl.training.train`). A field added after runs were recorded is left out while
        it holds the value that reproduces them (:data:`ADDED_FIELDS`), and the method adds
        what older records carry (:meth:`train.methods.Method.record_extras`) and leaves out
        its settings added since at their reproducing values (``Method.added_settings``), so
        those runs still resume."""
        added = self.method_def.added_settings
        own = {k: v for k, v in self.method_fields(*TRAINED_GROUPS).items() if not (k in added and v == added[k])}
        return without_added_defaults({**self.method_def.record_extras(self), **self.fields_of(*TRAINED_GROUPS),
                                       **own, "seed": self.seed})

    def env_kwargs(self) -> dict:
        """The environment's constructor arguments: every field of the ``env`` group its class takes
        (:data:`ENV_FIELDS`; those of :data:`OPTIONAL_ENV_FIELDS` only when set, so that records made
        before them read as they were). No environment is named: a plug-in's takes what it declares."""
        accepted = accepted_keywords(envs.REGISTRY[self.env]) or set(ENV_FIELDS)
        common = {name: getattr(self, name) for name in ENV_FIELDS
                  if name in accepted and (name not in OPTIONAL_ENV_FIELDS or getattr(self, name))}
        return {**common, **parse_env_args(self.env, self.env_args)}

    def eval_env_kwargs(self) -> dict:
        kwargs = self.env_kwargs()
        if self.eval_horizon:
            kwargs["horizon"] = self.eval_horizon
        if self.eval_mean_range:
            if not {"mean_low", "mean_high"} <= (accepted_keywords(envs.REGISTRY[self.env]) or set()) or len(self.eval_mean_range) != 2:
                raise ValueError(f"eval_mean_range takes (low, high) for a multi-armed bandit, got {self.eval_mean_range!r} for {self.env!r}")
            kwargs["mean_low"], kwargs["mean_high"] = self.eval_mean_range
        return kwargs


def parse_env_args(env: str, items: tuple[str, ...]) -> dict:
    """``NAME=VALUE`` items as keyword arguments of environment ``env``'s constructor, each value read as the type of
    the keyword's default (bool: true/false; a tuple: comma-separated, its items as ints, floats or words). Raises
    ``ValueError`` in one line for an item without ``=``, a name the constructor does not take or one a common field
    sets (``size``: ``--size``), a repeated name, or a value of the wrong type."""
    defaults = keyword_defaults(envs.REGISTRY[env])  # None: it takes any keyword, each value read as it looks
    out = {}
    for item in items:
        name, eq, text = str(item).partition("=")
        name = name.strip()
        if not eq or not name:
            raise ValueError(f"env_args takes NAME=VALUE items, got {item!r}")
        if name in ENV_FIELDS:
            raise ValueError(f"env_args item {item!r}: {name} is a field of its own (--{name.replace('_', '-')})")
        if defaults is not None and name not in defaults:
            raise ValueError(f"env_args item {item!r}: environment {env!r} takes no {name!r}; it takes {sorted(defaults)}")
        if name in out:
            raise ValueError(f"env_args sets {name!r} twice: {items!r}")
        out[name] = _read_value(name, text.strip(), (defaults or {}).get(name))
    return out


def _read_value(name: str, text: str, default):
    def scalar(s: str):
        for kind in (int, float):
            try:
                return kind(s)
            except ValueError:
                pass
        return s

    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"env_args {name}={text!r}: expected true or false")
        return text.lower() in ("true", "1")
    if isinstance(default, tuple):
        return tuple(scalar(s.strip()) for s in text.split(",") if s.strip())
    if isinstance(default, (int, float)):
        try:
            return type(default)(text)
        except ValueError:
            raise ValueError(f"env_args {name}={text!r}: expected {'an integer' if isinstance(default, int) else 'a number'}") from None
    return text if isinstance(default, str) else scalar(text)


_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
#: The common fields an environment's constructor may take (each that it takes is passed: :meth:`ExperimentConfig.env_kwargs`).
ENV_FIELDS = ("dim", "num_arms", "size", "horizon", "split_seed", "basis", "level")
#: Of those, the ones passed only when set (0 is the constructor's own default).
OPTIONAL_ENV_FIELDS = ("split_seed", "basis", "level")


def _takes(env: str, name: str) -> bool:
    """Whether environment ``env``'s constructor takes keyword ``name``."""
    accepted = accepted_keywords(envs.REGISTRY[env])
    return accepted is None or name in accepted
#: Fields added after runs were first recorded, with the value that reproduces those runs. Never change a
#: value here: it says what a record without the field meant.
ADDED_FIELDS = {"data_source": "fixed", "lhf": False, "lhf_stability": 1.0, "noisy_fraction": 0.0, "noise_epsilon": 0.5, "ffn": "dense",
                "expert_hidden": 64, "ppo_epochs": 4, "ppo_minibatches": 4, "gamma": 0.99, "gae_lambda": 0.95, "clip_eps": 0.2,
                "entropy_coef": 0.01, "value_coef": 0.5, "pool_size": 4096, "pool_chunk": 64, "pool_every": 2, "deploy_window": 0,
                "window_steps": 0, "acting_share": 0.0, "acting_episode": "last",
                "min_epsilon": 0.0, "time_shortfall": False, "split_seed": 0, "basis": 0, "strict_flag": False,
                "level": "", "env_args": ()}


def applies(field_name: str, objective: str, env: str | None = None) -> bool:
    """Whether the field concerns an experiment of method ``objective`` (on environment ``env``): its own
    settings, every common one it does not declare unused, and of the environment's fields
    (:data:`ENV_FIELDS`) those ``env``'s constructor takes (``--help`` lists only these; every field parses)."""
    method = methods.get(objective)
    own = {f.name for f in method.settings()}
    if env is not None and field_name in ENV_FIELDS and not _takes(env, field_name):
        return False
    return field_name not in method.unused_common and (field_name in own or methods.owner(field_name) is None)


def without_added_defaults(fields: dict) -> dict:
    """``fields`` without the added fields that hold their reproducing value (:data:`ADDED_FIELDS`)."""
    return {k: v for k, v in fields.items() if not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}


def replace(cfg: ExperimentConfig, **changes) -> ExperimentConfig:
    """``cfg`` with ``changes``: a name of a :class:`TrainConfig` field goes to ``cfg.train``, a
    setting of the method to ``cfg.method``. A new ``objective`` starts from its method's default
    settings; a setting of another method is refused, naming it."""
    train = {k: changes.pop(k) for k in list(changes) if k in _TRAIN_FIELDS}
    if train:
        changes["train"] = dataclasses.replace(changes.get("train", cfg.train), **train)
    objective = changes.get("objective", cfg.objective)
    method = methods.get(objective)
    own = {f.name for f in method.settings()}
    section = {k: changes.pop(k) for k in list(changes) if k in own}
    common = {f.name for f in dataclasses.fields(ExperimentConfig)}
    for name in sorted(set(changes) - common):
        other = methods.owner(name)
        if other is not None:
            raise ValueError(f"{name!r} is a setting of method {other.name!r}; this experiment's method is {objective!r}")
    unknown = set(changes) - common
    if unknown:
        raise ValueError(f"unknown config field(s) {sorted(unknown)}")
    base = changes.pop("method", None) or (cfg.method if objective == cfg.objective else method.Config())
    changes["method"] = dataclasses.replace(base, **section) if section else base
    return dataclasses.replace(cfg, **changes)


def config_from_dict(saved: dict) -> ExperimentConfig:
    """The :class:`ExperimentConfig` a results file's ``config`` describes: the method's settings
    in ``method``, or (as written before methods had sections) among the common fields, where
    other methods' settings are dropped. Fields unknown to this version are refused by name."""
    values = {k: v for k, v in saved.items() if k not in ("train", "method")}
    method = methods.get(values.get("objective", ExperimentConfig.objective))
    own = {f.name for f in method.settings()}
    section = {**{k: values.pop(k) for k in list(values) if k in own}, **(saved.get("method") or {})}
    common = {f.name for f in dataclasses.fields(ExperimentConfig)}
    values = {k: v for k, v in values.items() if k in common or methods.owner(k) is None}
    unknown = sorted(set(values) - common) + sorted(set(section) - own)
    if unknown:
        raise ValueError(f"the saved config has fields this version does not know: {unknown}")
    tuples = lambda d: {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # noqa: E731  (JSON lists)
    return ExperimentConfig(**tuples(values), method=method.Config(**tuples(section)), train=TrainConfig(**saved.get("train", {})))


def _preset(**kw) -> ExperimentConfig:
    return replace(ExperimentConfig(), **kw)


def config_for(name: str, scale: str = "cpu", **overrides) -> ExperimentConfig:
    """Preset ``name`` (a built-in method's or a plug-in's: :mod:`train.presets`) at ``scale`` (``cpu`` or
    ``paper``), with ``overrides`` (any field, training ones included)."""
    preset = presets.get(name)
    base = preset.config if isinstance(preset.config, ExperimentConfig) else _preset(**preset.config)
    if scale == "paper":
        base = replace(base, **preset.paper, scale="paper")
    elif scale != "cpu":
        raise ValueError(f"scale must be 'cpu' or 'paper', got {scale!r}")
    return replace(base, **overrides)


def __getattr__(name: str):
    if name == "EXPERIMENTS":  # every preset as (config at CPU scale, what --scale paper changes), by name
        return {n: (config_for(n), p.paper) for n, p in presets.every().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
