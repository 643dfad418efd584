"""AD as a :class:`~train.methods.base.Method`: its settings, data, objective and deployed agent (what the method
is and does: :mod:`train.methods.ad`)."""

from __future__ import annotations

from dataclasses import dataclass

from envs.base import check_positive_int
from icrl.agents import make_agent
from train.fields import setting
from train.methods.ad.data import make_ad_dataset
from train.methods.base import Method, check_window_starts, check_window_steps


@dataclass(frozen=True)
class ADConfig:
    source: str = setting("q-learning", "data", "the learning algorithm whose histories are distilled")
    history_episodes: int = setting(100, "data", "episodes in each source learning history")
    noisy_fraction: float = setting(0.0, "data", "share of histories from a degraded source (random actions)")
    noise_epsilon: float = setting(0.5, "data", "a degraded history acts at random with a probability drawn from [0, this]")
    pool_size: int = setting(4096, "data", "stream: learning histories resident on device")
    pool_chunk: int = setting(64, "data", "stream: histories replaced by fresh ones at each refresh (the oldest chunk)")
    pool_every: int = setting(2, "data", "stream: training steps between refreshes")
    episode_stride: int = setting(1, "objective", "the window takes every k-th episode of a history")
    window_starts: str = setting("episode", "objective", "windows begin at episode starts, or at any step (stride 1: as a sliding "
                                 "context does)")
    window_steps: int = setting(0, "objective", "steps of a window shorter than an episode, beginning at any step "
                                               "(window_starts='step', context_episodes=1; 0: context_episodes whole episodes)")

    def __post_init__(self):
        for name in ("history_episodes", "pool_size", "pool_chunk", "pool_every", "episode_stride"):
            check_positive_int(name, getattr(self, name))
        if not 0 <= self.noisy_fraction <= 1:
            raise ValueError(f"noisy_fraction must be in [0, 1], got {self.noisy_fraction!r}")
        if self.pool_size % self.pool_chunk:
            raise ValueError(f"pool_size={self.pool_size} must be a multiple of pool_chunk={self.pool_chunk}")
        check_window_starts(self.window_starts)
        check_positive_int("window_steps", self.window_steps, minimum=0)
        if self.window_steps and self.window_starts != "step":
            raise ValueError(f"window_steps={self.window_steps} cuts episodes: window_starts must be 'step', got {self.window_starts!r}")


class AD(Method):
    name, label, Config = "ad", "AD", ADConfig
    data_sources = ("fixed", "stream")
    flat_records = True

    def check(self, cfg) -> None:
        check_window_steps(cfg, self.label)

    def check_env(self, cfg, env) -> None:
        make_agent(cfg.method.source, env)

    def make_data(self, cfg, env, key, num_tasks: int):
        m = cfg.method
        return make_ad_dataset(env, key, num_tasks, m.history_episodes, split="train", source=m.source,
                               noisy_fraction=m.noisy_fraction, noise_epsilon=m.noise_epsilon)

    def stale_data(self, cfg, data) -> str | None:
        return None if "task" in data.extras else "it predates each history's task (extras['task'])"

    def describe_data(self, cfg) -> str:
        m = cfg.method
        return (f"a pool of {m.pool_size} {m.source} learning histories on device, {m.pool_chunk} replaced by fresh ones "
                f"every {m.pool_every} steps")

    def objective(self, cfg, env, spec):
        from icrl.streams import Pooled
        from train.methods.ad.objective import ADObjective
        from train.methods.ad.stream import HistoryPool

        m = cfg.method
        objective = ADObjective(spec, env.horizon, cfg.context_episodes, m.episode_stride, window_starts=m.window_starts,
                                paired=cfg.ffn == "t2mir",  # T2MIR's contrastive loss pairs two windows of a history
                                window_steps=m.window_steps)
        objective.check({"num_episodes": m.history_episodes})
        if cfg.data_source == "stream":  # learning histories on device, a chunk refreshed every pool_every steps
            objective = Pooled(objective, HistoryPool(env, m.history_episodes, m.pool_size, m.pool_chunk, m.pool_every, m.source,
                                                      noisy_fraction=m.noisy_fraction, noise_epsilon=m.noise_epsilon))
        return objective, m.window_steps or cfg.context_episodes * env.horizon

    def lhf_episodes(self, cfg):
        return cfg.method.history_episodes, "history_episodes"
