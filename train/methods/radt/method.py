"""RA-DT as a :class:`~train.methods.base.Method`: its settings, data, objective and deployed agent (what the method
is and does: :mod:`train.methods.radt`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from envs.base import check_positive_int, is_bandit
from icrl.agents import make_agent
from icrl.retrieval import MODES, ChunkMemory
from train.fields import setting
from train.methods.ad.data import make_ad_dataset
from train.methods.base import Method, check_window_steps


@dataclass(frozen=True)
class RADTConfig:
    source: str = setting("psrl", "data", "the learning algorithm whose histories are distilled (as AD's)")
    history_episodes: int = setting(20, "data", "episodes in each source learning history (as AD's)")
    chunk_steps: int = setting(10, "objective", "steps of a memory chunk; a retrieved value is a chunk and its continuation (2x)")
    retrieved: int = setting(4, "objective", "values retrieved before the window")
    candidates: int = setting(16, "objective", "the most similar chunks the reweighting chooses among")
    utility_weight: float = setting(1.0, "objective", "weight of a chunk's reward (share of the best in memory) beside its similarity rank")
    embed_dim: int = setting(32, "objective", "features of the frozen random embedding chunks are compared in")
    retrieval: str = setting("similar", "objective", "similar (cosine, reweighted) | random (the ablation)")
    window_steps: int = setting(0, "objective", "steps of the model's own window, for episodes longer than a window should be "
                                                "(0: context_episodes whole episodes)")

    def __post_init__(self):
        for name in ("history_episodes", "chunk_steps", "retrieved", "candidates", "embed_dim"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("window_steps", self.window_steps, minimum=0)
        self.memory()  # candidates < retrieved or an unknown mode fails here

    def memory(self) -> ChunkMemory:
        if self.retrieval not in MODES:
            raise ValueError(f"retrieval must be one of {MODES}, got {self.retrieval!r}")
        return ChunkMemory(self.chunk_steps, self.retrieved, self.candidates, self.utility_weight, self.embed_dim, self.retrieval)


class RADT(Method):
    name, label, Config = "radt", "RA-DT", RADTConfig
    unused_common = ("lhf", "lhf_keep", "lhf_stability", "deploy_context", "deploy_window")

    def check(self, cfg) -> None:
        if cfg.data_source != "fixed":
            raise ValueError("RA-DT retrieves from whole learning histories of a fixed dataset: data_source must be 'fixed'")
        if cfg.backbone != "transformer" or cfg.ffn != "dense":
            raise ValueError(f"RA-DT runs on the dense transformer, got backbone={cfg.backbone!r}, ffn={cfg.ffn!r}")
        if cfg.context_episodes > cfg.method.history_episodes:
            raise ValueError(f"context_episodes={cfg.context_episodes} is longer than the histories "
                             f"(history_episodes={cfg.method.history_episodes})")
        if cfg.deploy_context != ("step",) or cfg.deploy_window:
            raise ValueError("RA-DT acts on its window and what it retrieves: deploy_context must be ('step',) and deploy_window 0")
        if cfg.lhf:
            raise ValueError("learning-history filtering is not wired to RA-DT (lhf must be off)")
        check_window_steps(cfg, self.label)

    def check_env(self, cfg, env) -> None:
        if is_bandit(env):
            raise ValueError(f"RA-DT retrieves chunks of episodes: environment {env.name!r} has none")
        make_agent(cfg.method.source, env)

    @staticmethod
    def window(cfg) -> int:
        """Steps of the model's own window, in training and deployed."""
        return cfg.method.window_steps or cfg.context_episodes * cfg.horizon

    def deployed_memory(self, cfg, seq_len: int) -> str:
        window = self.window(cfg)
        return f"a window of its last {window} steps behind {seq_len - window} tokens retrieved from its own steps before it"

    def model_label(self, cfg) -> str:
        return self.label + (" (random retrieval)" if cfg.method.retrieval == "random" else "")

    def make_data(self, cfg, env, key, num_tasks: int):
        m = cfg.method
        return make_ad_dataset(env, key, num_tasks, m.history_episodes, split="train", source=m.source)

    def token_spec(self, cfg, env):
        return dataclasses.replace(super().token_spec(cfg, env), num_conditions=1)  # the retrieved flag

    def objective(self, cfg, env, spec):
        from train.methods.radt.objective import RADTObjective

        objective = RADTObjective(spec, env.horizon, cfg.context_episodes, cfg.method.memory(), cfg.method.window_steps)
        objective.check({"num_episodes": cfg.method.history_episodes})
        return objective, objective.sequence_length

    def agents(self, cfg, params, model, spec):
        from train.methods.radt.agent import RADTAgent

        horizon = cfg.eval_horizon or cfg.horizon
        agent = RADTAgent(params, model, spec, cfg.method.memory(), window=self.window(cfg), capacity=cfg.eval_episodes * horizon)
        return {self.model_label(cfg): agent}
