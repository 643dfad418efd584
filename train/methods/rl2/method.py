"""Meta-RL as a :class:`~train.methods.base.Method`: its settings, data, objective and deployed agent (what the method
is and does: :mod:`train.methods.rl2`)."""

from __future__ import annotations

from dataclasses import dataclass

from icrl.metarl import PPOConfig
from train.fields import setting
from train.methods.base import Method

_PPO = PPOConfig()  # the defaults


@dataclass(frozen=True)
class RL2Config:
    ppo_epochs: int = setting(_PPO.num_epochs, "objective", "PPO epochs over each update's trials")
    ppo_minibatches: int = setting(_PPO.num_minibatches, "objective", "minibatches of whole trials per epoch (batch_size trials "
                                   "per update)")
    gamma: float = setting(_PPO.gamma, "objective", "discount across the whole trial")
    gae_lambda: float = setting(_PPO.gae_lambda, "objective", "GAE lambda")
    clip_eps: float = setting(_PPO.clip_eps, "objective", "PPO ratio clip")
    entropy_coef: float = setting(_PPO.entropy_coef, "objective", "entropy bonus")
    value_coef: float = setting(_PPO.value_coef, "objective", "value-loss weight")

    def __post_init__(self):
        self.ppo()  # PPO settings out of range fail here

    def ppo(self) -> PPOConfig:
        return PPOConfig(self.ppo_epochs, self.ppo_minibatches, self.gamma, self.gae_lambda, self.clip_eps, self.entropy_coef,
                         self.value_coef)


class RL2(Method):
    name, label, Config = "rl2", "RL2", RL2Config
    flat_records = True
    supervised = False
    unused_common = ("num_train_tasks", "data_source", "lhf", "lhf_keep", "lhf_stability", "ffn", "expert_hidden",
                     "deploy_context", "microbatches")

    def check(self, cfg) -> None:
        if cfg.deploy_context != ("step",):
            raise ValueError(f"a meta-RL policy acts on its whole trial so far: deploy_context must be ('step',), got "
                             f"{cfg.deploy_context!r}")
        if cfg.data_source == "stream":
            raise ValueError("meta-RL makes its own trials: data_source='stream' is for the methods that train on data")

    def describe_data(self, cfg) -> str:
        episodes = f"{cfg.context_episodes} episode{'s' if cfg.context_episodes > 1 else ''}"
        return f"meta-RL: PPO on {cfg.train.batch_size} fresh trials of {episodes} of one task per update (no dataset)"

    def training_results(self, cfg, metrics: list[dict]) -> dict:
        """``max_mean_trial_return``: the best of the logged updates' mean trial return. With one episode per trial
        (POPGym's presets) it is POPGym's MMER, the maximum mean episodic return over training, read at the logged
        updates."""
        returns = [e["trial_return"] for e in metrics if "trial_return" in e]
        return {"max_mean_trial_return": max(returns)} if returns else {}

    def model_settings(self, cfg, objective) -> dict:
        # each device runs its share of a PPO update alone (shard_map); there, on CPU, S5's recurrence runs faster one
        # step at a time than as an associative scan (popjaxrl's settings, S5 4 x 256: 101.0 s against 123.8 s an
        # update, benchmarks/metarl.py --popjaxrl, docs/performance.md); the same function to float rounding, so only the speed differs
        import jax

        return {"scan": "sequential"} if cfg.backbone == "s5" and jax.default_backend() == "cpu" else {}

    def objective(self, cfg, env, spec):
        from icrl.metarl import MetaRL

        context_len = cfg.context_episodes * env.horizon
        return MetaRL(env, spec, context_len, cfg.method.ppo()), context_len
