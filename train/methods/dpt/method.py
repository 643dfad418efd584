"""DPT as a :class:`~train.methods.base.Method`: its settings, data, objective and deployed agent (what the method
is and does: :mod:`train.methods.dpt`)."""

from __future__ import annotations

from dataclasses import dataclass

import jax

from envs.base import is_bandit
from icrl.agents import make_agent
from train.fields import setting
from train.methods.base import Method
from train.methods.dpt.data import LABELS, make_dpt_dataset, parse_collectors


@dataclass(frozen=True)
class DPTConfig:
    collector: str = setting("dirichlet", "data", "context collector, or a mixture 'dirichlet:0.5,thompson:0.5'")
    labels: str = setting("optimal", "data", "optimal (the task's optimal action for uniform query states) | collector (the states "
                          "the collector visited, its actions: with psrl, posterior-sampled optimal actions coherent within an episode)")

    def __post_init__(self):
        parse_collectors(self.collector)  # a malformed mixture fails here
        if self.labels not in LABELS:
            raise ValueError(f"labels must be one of {LABELS}, got {self.labels!r}")


class DPT(Method):
    name, label, Config = "dpt", "DPT", DPTConfig
    data_sources = ("fixed", "stream")
    flat_records = True

    def check_env(self, cfg, env) -> None:
        for name in parse_collectors(cfg.method.collector):
            make_agent(name, env)
        if cfg.method.labels == "optimal":
            env.optimal_action_for_obs(env.sample_query_obs(jax.random.PRNGKey(0)), env.default_params)  # Key-to-Door: raises

    def make_data(self, cfg, env, key, num_tasks: int):
        return make_dpt_dataset(env, key, num_tasks, cfg.context_episodes * env.horizon, split="train",
                                collector=cfg.method.collector, labels=cfg.method.labels)

    def describe_data(self, cfg) -> str:
        return f"streamed, {cfg.train.batch_size} fresh DPT tasks from {cfg.method.collector} per step"

    def objective(self, cfg, env, spec):
        from icrl.streams import Streamed
        from train.methods.dpt.objective import DPTObjective
        from train.methods.dpt.stream import DPTStream

        context_len = cfg.context_episodes * env.horizon
        objective = DPTObjective(spec)
        if cfg.data_source == "stream":  # every batch made inside the training step from fresh training tasks
            objective = Streamed(objective, DPTStream(env, context_len, cfg.method.collector, cfg.method.labels))
        return objective, context_len + 1  # DPT also queries after the whole context

    def model_settings(self, cfg, objective) -> dict:
        # a DPT context is one task's, never two windows of one: no pairs for T2MIR's contrastive loss, so the model
        # records a weight of 0 for it rather than one that trains nothing
        return {"moe_contrastive_weight": 0.0} if cfg.ffn == "t2mir" else {}

    def extra_results(self, cfg, env, model, spec, params, tasks, key) -> dict:
        if not is_bandit(env) or cfg.eval_horizon:
            return {}
        from icrl.evaluate import offline_bandit

        return {"offline": offline_bandit(env, model, spec, params, tasks, key, cfg.context_episodes * env.horizon)}

    def lhf_episodes(self, cfg):
        return cfg.context_episodes, "context_episodes"
