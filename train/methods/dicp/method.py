"""DICP as a :class:`~train.methods.base.Method`: its settings, data, objective and deployed agent (what the method
is and does: :mod:`train.methods.dicp`)."""

from __future__ import annotations

from dataclasses import dataclass

from envs.base import check_positive_int
from envs.grid import GridWorld
from icrl.agents import make_agent
from icrl.planning import PLAN_REWARDS, next_state_offset
from train.fields import setting
from train.methods.ad.data import make_ad_dataset
from train.methods.ad.objective import check_window_span
from train.methods.base import Method, check_window_starts


@dataclass(frozen=True)
class DICPConfig:
    source: str = setting("q-learning", "data", "the learning algorithm whose histories are distilled (as AD's)")
    history_episodes: int = setting(60, "data", "episodes in each source learning history (as AD's)")
    episode_stride: int = setting(4, "objective", "the window takes every k-th episode of a history (as AD's)")
    window_starts: str = setting("episode", "objective", "windows begin at episode starts, or at any step (stride 1: as the "
                                 "deployed agent's sliding context does; as AD's)")
    dynamics_weight: float = setting(1.0, "objective", "weight of the reward and next-state losses beside the action loss")
    detach_next_state: bool = setting(False, "model", "the next cell from a head of its own (an MLP) that its loss trains "
                                      "alone, not the layers the action and reward heads share (off: the paper's, one linear "
                                      "output layer on layers every loss trains)")
    beam_widths: tuple[int, ...] = setting((0, 10), "eval", "beam widths deployed, one agent each (0: planning off)")
    plan_depth: int = setting(8, "eval", "imagined steps a plan looks ahead (fewer where the episode ends first)")
    plan_min_prob: float = setting(0.0, "eval", "expand only actions the policy gives at least this probability, at real and "
                                   "imagined states (0: every action, the paper's search; at most 1/actions)")
    plan_reward: str = setting("argmax", "eval", "what a plan collects per imagined step: argmax (the likelier reward class, "
                               "the paper's search) | expected (the reward's probability: plans head where reward is likeliest) | sample (rewarded "
                               "where the probability exceeds a threshold drawn per cell and episode: posterior-sampling-like)")

    def __post_init__(self):
        for name in ("history_episodes", "episode_stride", "plan_depth"):
            check_positive_int(name, getattr(self, name))
        widths = tuple(self.beam_widths)
        if not widths or any(not isinstance(w, int) or w < 0 for w in widths) or len(set(widths)) != len(widths):
            raise ValueError(f"beam_widths must be distinct integers >= 0 (0: planning off), got {self.beam_widths!r}")
        check_window_starts(self.window_starts)
        if not 0 <= self.plan_min_prob < 1:
            raise ValueError(f"plan_min_prob must be in [0, 1), got {self.plan_min_prob!r}")
        if self.plan_reward not in PLAN_REWARDS:
            raise ValueError(f"plan_reward must be one of {PLAN_REWARDS}, got {self.plan_reward!r}")
        if self.dynamics_weight < 0:
            raise ValueError(f"dynamics_weight must be >= 0, got {self.dynamics_weight!r}")


class DICP(Method):
    name, label, Config = "dicp", "DICP", DICPConfig
    unused_common = ("lhf", "lhf_keep", "lhf_stability", "deploy_context", "deploy_window")
    added_settings = {"window_starts": "episode", "detach_next_state": False}

    def check(self, cfg) -> None:
        if cfg.data_source != "fixed":
            raise ValueError("DICP distils a fixed dataset of learning histories: data_source must be 'fixed'")
        if cfg.backbone != "transformer" or cfg.ffn != "dense":
            raise ValueError(f"DICP plans on a transformer's KV cache, got backbone={cfg.backbone!r}, ffn={cfg.ffn!r}")
        if cfg.position_encoding == "learned":
            raise ValueError("DICP imagines steps past its context: it needs relative positions (rotary or alibi), "
                             "got position_encoding='learned'")
        check_window_span(cfg.context_episodes, cfg.method.episode_stride, cfg.method.history_episodes)
        if cfg.deploy_context != ("step",) or cfg.deploy_window:
            raise ValueError("DICP acts on a sliding context of its own steps: deploy_context must be ('step',) and deploy_window 0")
        if cfg.lhf:
            raise ValueError("learning-history filtering is not wired to DICP (lhf must be off)")

    def check_env(self, cfg, env) -> None:
        if not isinstance(env, GridWorld):
            raise ValueError(f"DICP predicts a grid world's next cell and 0/1 reward: environment {env.name!r} is not one")
        if cfg.method.plan_min_prob > 1 / env.num_actions:  # refused before training, not when the agents are made
            raise ValueError(f"plan_min_prob={cfg.method.plan_min_prob!r} exceeds 1/{env.num_actions}: the policy's likeliest "
                             f"action would not always qualify")
        make_agent(cfg.method.source, env)

    def make_data(self, cfg, env, key, num_tasks: int):
        m = cfg.method
        return make_ad_dataset(env, key, num_tasks, m.history_episodes, split="train", source=m.source)

    def objective(self, cfg, env, spec):
        from train.methods.dicp.objective import DICPObjective

        m = cfg.method
        objective = DICPObjective(spec, env.horizon, cfg.context_episodes, m.episode_stride, window_starts=m.window_starts,
                                  num_states=env.num_states, obs_to_index=env.obs_to_index, dynamics_weight=m.dynamics_weight)
        objective.check({"num_episodes": m.history_episodes})
        return objective, cfg.context_episodes * env.horizon

    def model_settings(self, cfg, objective) -> dict:
        return {"detach_from": next_state_offset(objective.spec.num_actions)} if cfg.method.detach_next_state else {}

    def agents(self, cfg, params, model, spec):
        from train.methods.dicp.agent import DICPAgent

        m = cfg.method
        horizon = cfg.eval_horizon or cfg.horizon
        out = {}
        for width in m.beam_widths:  # the widest plan is the method's own agent
            name = (f"{self.label} (planning off)" if width == 0 else self.label if width == max(m.beam_widths)
                    else f"{self.label} (beam {width})")
            out[name] = DICPAgent(params, model, spec, width=width, depth=m.plan_depth if width else 0, horizon=horizon,
                                  size=cfg.size, min_prob=m.plan_min_prob if width else 0.0,
                                   plan_reward=m.plan_reward)
        return out
