"""ICEE as a :class:`~train.methods.base.Method`: its settings, data, objective and deployed agent (what the method
is and does: :mod:`train.methods.icee`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from envs.base import check_positive_int
from icrl.agents import make_agent
from train.fields import setting
from train.methods.base import Method
from train.methods.icee.data import make_icee_dataset, return_scale
from train.methods.icee.objective import ICEE_CONDITIONS, check_weighting, unbiasing_weights


@dataclass(frozen=True)
class ICEEConfig:
    icee_episodes: int = setting(12, "data", "episodes of one task in each training sequence")
    max_epsilon: float = setting(1.0, "data", "each episode's probability of a random action is drawn from [min_epsilon, this]")
    min_epsilon: float = setting(0.0, "data", "the least probability of a random action (1, with max_epsilon 1: uniformly random actions)")
    random_skew: float = setting(1.0, "data", "a random action a is drawn with probability proportional to skew**a (1: uniform; "
                                 "below 1: a biased data policy)")
    sort_by_epsilon: bool = setting(False, "data", "each task's episodes in order of decreasing epsilon (the AD-sorted "
                                    "baseline's data; Dark Room's ICEE presets)")
    time_shortfall: bool = setting(False, "data", "'no shortfall' also asks for the best return in the fewest steps (a detour "
                                   "that still ends with the best return falls short: Key-to-Door's rewards, each paid once)")
    strict_flag: bool = setting(False, "data", "the flag asks for a return above every earlier episode's, a tie earning none "
                                "(Bayesian optimisation: a repeated query finds nothing new; deployed, the agent must go elsewhere)")
    conditioned: bool = setting(True, "objective", "tokens carry the return to go and the cross-episode flag (off: AD on the episodes)")
    unbiased: bool = setting(True, "objective", "weight each action's log-likelihood by uniform(a) / pi(a | o)")
    weight_clip: float = setting(20.0, "objective", "the unbiasing weights are clipped at this (they grow as 1 / epsilon)")
    acting_share: float = setting(0.0, "objective", "share of the loss's weight on the positions of the episode being acted in (the only "
                                  "ones a deployed agent reads), weighted as the objective says; finished episodes' positions hold "
                                  "the rest as plain imitation (0: every position weighted alike; 1: the acting positions alone)")
    acting_episode: str = setting("last", "objective", "which episode of a training window is acted in: last, or any (drawn per window "
                                  "among those that begin in it, later positions carrying no loss: the acting episode has as few "
                                  "episodes before it as a deployed agent's first ones)")

    def __post_init__(self):
        check_positive_int("icee_episodes", self.icee_episodes)
        if not 0 <= self.max_epsilon <= 1:
            raise ValueError(f"max_epsilon must be in [0, 1], got {self.max_epsilon!r}")
        if not 0 <= self.min_epsilon <= self.max_epsilon:
            raise ValueError(f"min_epsilon must be in [0, max_epsilon={self.max_epsilon}], got {self.min_epsilon!r}")
        if not 0 < self.random_skew <= 1:
            raise ValueError(f"random_skew must be in (0, 1], got {self.random_skew!r}")
        check_weighting(self.weight_clip, self.acting_share, self.acting_episode)


class ICEE(Method):
    name, label, Config = "icee", "ICEE", ICEEConfig
    unused_common = ("lhf", "lhf_keep", "lhf_stability", "deploy_context")

    def check(self, cfg) -> None:
        if cfg.data_source != "fixed":
            raise ValueError("ICEE trains on a fixed dataset of epsilon-oracle episodes: data_source must be 'fixed'")
        if cfg.context_episodes > cfg.method.icee_episodes:
            raise ValueError(f"context_episodes={cfg.context_episodes} is longer than the training sequences "
                             f"(icee_episodes={cfg.method.icee_episodes})")
        if cfg.deploy_context != ("step",):
            raise ValueError(f"ICEE acts on every step so far: deploy_context must be ('step',), got {cfg.deploy_context!r}")
        if cfg.deploy_window:
            raise ValueError(f"deploy_window={cfg.deploy_window}: ICEE's agent relabels its one context at episode ends and "
                             f"acts on every step so far (deploy_window=0)")

    def check_env(self, cfg, env) -> None:
        make_agent("epsilon-oracle", env)  # an environment without an oracle is refused here

    def model_label(self, cfg) -> str:
        m = cfg.method
        label = "ICEE" if m.conditioned else ("AD-sorted" if m.sort_by_epsilon else "AD (epsilon-oracle)")
        if m.conditioned and not m.unbiased:
            label += " (no weights)"
        return label + ("" if cfg.backbone == "transformer" else f"-{cfg.backbone}")

    def make_data(self, cfg, env, key, num_tasks: int):
        m = cfg.method
        data = make_icee_dataset(env, key, num_tasks, m.icee_episodes, split="train", max_epsilon=m.max_epsilon, min_epsilon=m.min_epsilon,
                                 skew=m.random_skew, sort_by_epsilon=m.sort_by_epsilon, time_shortfall=m.time_shortfall,
                                 strict_flag=m.strict_flag)
        w = data.meta["weights"]
        clipped = float(np.mean(np.asarray(unbiasing_weights(data.extras["behaviour"], env.num_actions)) > m.weight_clip))
        data.meta["weights"]["clipped_fraction"] = clipped
        print(f"unbiasing weights uniform/pi: median {w['p50']:.2f}, 99th percentile {w['p99']:.1f}, max {w['max']:.0f}; "
              f"{100 * clipped:.2f}% clipped at {m.weight_clip:g}")
        return data

    def token_spec(self, cfg, env):
        spec = super().token_spec(cfg, env)
        return dataclasses.replace(spec, num_conditions=ICEE_CONDITIONS) if cfg.method.conditioned else spec

    def objective(self, cfg, env, spec):
        from train.methods.icee.objective import ICEEObjective

        m = cfg.method
        objective = ICEEObjective(spec, env.horizon, cfg.context_episodes, unbiased=m.unbiased, weight_clip=m.weight_clip,
                                  acting_share=m.acting_share, acting_episode=m.acting_episode)
        objective.check({"num_episodes": m.icee_episodes})
        return objective, cfg.context_episodes * env.horizon

    def agents(self, cfg, params, model, spec):
        import envs
        from icrl.agents.model import ModelAgent
        from train.methods.icee.agent import ICEEAgent

        if not cfg.method.conditioned:
            return {self.model_label(cfg): ModelAgent(params, model, spec)}
        env, _ = envs.make(cfg.env, **cfg.eval_env_kwargs())  # its return floor: what an empty episode earns
        agent = ICEEAgent(params, model, spec, horizon=env.horizon, floor=return_scale(env)[0],
                           strict=cfg.method.strict_flag)
        return {self.model_label(cfg): agent}
