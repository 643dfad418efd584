"""What every in-context RL method says about itself: the :class:`Method` interface, and the checks
several methods share. The registry of methods by name is :mod:`train.methods`."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any


class Method:
    """One in-context RL method. Subclasses set :attr:`name`, :attr:`label`, :attr:`Config` and
    override what differs from these defaults."""

    #: the experiment's ``objective``: the method's registered name
    name: str = ""
    #: what results call the deployed model (``DPT``, ``AD``…; a backbone other than the transformer is appended)
    label: str = ""
    #: its settings: a frozen dataclass whose fields carry ``help`` metadata (:func:`icrl.training.described`)
    Config: type = None
    #: supervised on labelled sequences: a validation loss, learning-history filtering and T2MIR's losses apply
    supervised: bool = True
    #: the ``data_source`` values it trains with (a config asking for another is refused when it is made)
    data_sources: tuple[str, ...] = ("fixed",)
    #: common settings that mean nothing to this method (left out of its ``--help``)
    unused_common: tuple[str, ...] = ()
    #: recorded checkpoints while every method's settings were one flat list (dpt, ad, rl2): its records carry
    #: the other such methods' settings at their defaults (:data:`FLAT_RECORD_DEFAULTS`)
    flat_records: bool = False
    #: settings the method gained after its runs were first recorded, with the value that reproduces those runs:
    #: left out of its records while at that value, so the runs still resume and evaluate
    added_settings: dict = {}

    def check(self, cfg) -> None:
        """Raise ``ValueError`` for settings that cannot run together (called when a config is made)."""

    def check_env(self, cfg, env) -> None:
        """Raise ``ValueError`` before any work if the method cannot run on ``env`` (e.g. an unknown collector)."""

    def make_data(self, cfg, env, key, num_tasks: int):
        """The training data (:class:`icrl.data.Dataset`) of ``num_tasks`` training-split tasks, or
        ``None`` where the method makes its own inside the training step."""
        return None

    def stale_data(self, cfg, data) -> str | None:
        """Why a saved dataset cannot be reused (``None``: it can); its fingerprint is checked apart."""
        return None

    def describe_data(self, cfg) -> str:
        """One line saying what the method trains on when it makes its own data."""
        return "data made inside every training step"

    def token_spec(self, cfg, env):
        """How the method's tokens are made (:class:`icrl.models.TokenSpec`): the environment's,
        with any condition features the method adds."""
        from icrl.models import TokenSpec

        return TokenSpec.for_env(env)

    def objective(self, cfg, env, spec) -> tuple[Any, int]:
        """``(objective, sequence length)``: the objective samples batches and gives the loss
        (:class:`icrl.training.Trainer`); the model is built for sequences of that length."""
        raise NotImplementedError

    def model_settings(self, cfg, objective) -> dict:
        """Extra keyword arguments of the model (:func:`icrl.models.make_model`)."""
        return {}

    def deployed_memory(self, cfg, seq_len: int) -> str:
        """What the deployed model keeps of a rollout longer than its training sequences."""
        if cfg.deploy_window:
            return (f"windows of whole episodes: two contexts restarted in turn every {cfg.deploy_window} episodes, the "
                    f"older acting on between {cfg.deploy_window // 2} and {cfg.deploy_window} episodes")
        return f"a sliding window of the last {seq_len} steps" if cfg.backbone == "transformer" else "its recurrent state"

    def model_label(self, cfg) -> str:
        return self.label + ("" if cfg.backbone == "transformer" else f"-{cfg.backbone}")

    def agents(self, cfg, params, model, spec) -> dict[str, Any]:
        """The deployed model as agents, by the name results give them."""
        from icrl.agents import ModelAgent

        base = self.model_label(cfg)
        window = cfg.deploy_window * (cfg.eval_horizon or cfg.horizon)  # in steps
        return {base + ("" if context == "step" else f" ({context} context)"):
                ModelAgent(params, model, spec, context=context, state_window=window if context == "step" else 0)
                for context in cfg.deploy_context}

    def extra_results(self, cfg, env, model, spec, params, tasks, key) -> dict:
        """Figures beside the online evaluation (e.g. DPT's offline bandit choice)."""
        return {}

    def training_results(self, cfg, metrics: list[dict]) -> dict:
        """Figures of the training itself, from its logged ``metrics`` (``metrics.jsonl``'s entries), for the results."""
        return {}

    def record_extras(self, cfg) -> dict:
        """Settings a checkpoint's record carries besides the method's own and the common ones: for a
        method of :attr:`flat_records`, the other methods' settings at the defaults its old records hold,
        so those runs resume."""
        if not self.flat_records:
            return {}
        own = {f.name for f in self.settings()}
        return {k: v for k, v in FLAT_RECORD_DEFAULTS.items() if k not in own}

    def lhf_episodes(self, cfg) -> tuple[int, str] | None:
        """``(episodes, flag)`` learning-history filtering scores improvement across, or ``None``
        where the method's data are not drawn by the filter's weights (no dataset, or the method does not take it)."""
        return None

    def settings(self) -> list[dataclasses.Field]:
        return list(dataclasses.fields(self.Config))


#: DPT's and AD's settings at the defaults that records written while every method's settings were one flat list
#: hold (those of meta-RL and AD's pool are added fields at their reproducing values: train.configs.ADDED_FIELDS).
#: Never change a value here: it says what those records meant.
FLAT_RECORD_DEFAULTS = {"collector": "dirichlet", "labels": "optimal", "source": "q-learning", "history_episodes": 100,
                        "episode_stride": 1, "window_starts": "episode"}


#: where a window of learning history may begin (AD's and DICP's ``window_starts``): episode starts, or any step
WINDOW_STARTS = ("episode", "step")


def check_window_starts(value: str) -> None:
    if value not in WINDOW_STARTS:
        raise ValueError(f"window_starts must be one of {WINDOW_STARTS}, got {value!r}")


def check_window_steps(cfg, label: str) -> None:
    """A window set in steps (a method's ``window_steps``) replaces whole episodes: refused beside
    ``context_episodes`` other than 1, naming both."""
    if cfg.method.window_steps and cfg.context_episodes != 1:
        raise ValueError(f"window_steps={cfg.method.window_steps} sets {label}'s window in steps: context_episodes must then be 1, "
                         f"got {cfg.context_episodes}")




def lazy_exports(package: str, names: tuple[str, ...]):
    """A method folder's module ``__getattr__``: ``names`` come from its ``method`` module, imported on
    first use, so that importing the folder (for its presets) imports none of the method's code."""
    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(package + ".method"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
