"""In-context RL by meta-reinforcement learning: PPO on a recurrent policy whose state spans a trial.

RL²-style (the S5 paper's method, Lu et al. 2023): a *trial* is one task met for
``trial_len`` steps (one bandit task of H pulls, or k episodes of one Dark Room
goal). The policy's state carries across the episodes of a trial and is reset
only where a new task begins; PPO maximises the discounted return of the whole
trial, so the policy learns to explore early and exploit later, in context.

One compiled PPO update (:meth:`PPOTrainer._train_step`):

1. draw ``batch_size`` fresh training-split tasks and roll the policy out on them
   with the package's one :func:`icrl.rollout.rollout`: the policy *is* a
   :class:`icrl.agents.ModelAgent` (sampling), whose token carries the previous
   action, reward and done flag (:class:`icrl.models.TokenSpec`);
2. recompute the trials' logits and values with the model's parallel face, reset
   at each trial's first step and nowhere else (:func:`trial_resets`), and the
   advantages by GAE (:func:`gae`; the trial's end is terminal, episode ends
   inside it are not);
3. ``num_epochs`` passes of clipped-PPO minibatch updates (:func:`ppo_loss`) over
   whole trials.

Data parallel over the training mesh (:func:`jax.shard_map`): each device collects
its share of the trials and takes its share of every minibatch; gradients, losses
and the advantages' normalisation are averaged across devices, so N devices take the
update one device would, on other random draws (one device keeps its draws).

The model's last output is the value, in units of the largest discounted
return of a trial (:attr:`MetaRL.value_scale`: a reward of 1 at every step), so
that value and policy losses have like scales whatever the trial's length. Training runs in :func:`icrl.training.train` like any other
objective: checkpoints, exact resume (update ``t``'s randomness is
``fold_in(key, t)``), metrics, progress and the non-finite guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec

from envs.base import check_positive_int
from icrl.agents.model import ModelAgent
from icrl.models.tokens import TokenSpec
from icrl.rollout import rollout
from icrl.training import TrainConfig, Trainer, TrainState, finite_step


@dataclass(frozen=True)
class PPOConfig:
    """PPO's settings (the trial count per update is the training config's ``batch_size``)."""

    num_epochs: int = 4
    num_minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    entropy_coef: float = 0.01
    value_coef: float = 0.5

    def __post_init__(self):
        check_positive_int("num_epochs", self.num_epochs)
        check_positive_int("num_minibatches", self.num_minibatches)
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")
        if not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda!r}")
        if not self.clip_eps > 0:
            raise ValueError(f"clip_eps must be > 0, got {self.clip_eps!r}")
        for name in ("entropy_coef", "value_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")


def gae(rewards: jax.Array, values: jax.Array, gamma: float, lam: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates for trials that end after their last step (no bootstrap).

    ``rewards, values: (..., T)``; returns ``(advantages, returns)``, both ``(..., T)``, with
    ``A_t = δ_t + γλ A_{t+1}``, ``δ_t = r_t + γ V_{t+1} − V_t``, ``V_T = A_T = 0`` and
    ``returns = advantages + values`` (the value targets)."""
    next_values = jnp.concatenate([values[..., 1:], jnp.zeros_like(values[..., :1])], axis=-1)
    deltas = rewards + gamma * next_values - values

    def back(next_adv, delta):
        adv = delta + gamma * lam * next_adv
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(deltas[..., 0]), jnp.moveaxis(deltas, -1, 0), reverse=True)
    adv = jnp.moveaxis(adv, 0, -1)
    return adv, adv + values


def ppo_loss(logits, values, actions, old_logp, advantages, returns, cfg: PPOConfig,
             axis_name: str | None = None) -> tuple[jax.Array, dict]:
    """Clipped PPO loss over every position of a minibatch.

    ``logits: (..., A)``; ``values, actions, old_logp, advantages, returns: (...)``. The
    advantages are normalised over the minibatch; the value loss is ``½ (V − R)²``.
    ``axis_name``: the minibatch is split in equal shares over that mapped axis, and the
    normalisation uses the whole minibatch's mean and deviation (each share's loss is then
    its part of the whole's: their mean is the loss of the minibatch in one piece).
    Returns ``(loss, parts)`` with ``parts = {policy, value, entropy, clip_fraction}``."""
    def whole_mean(x):  # the mean over the whole minibatch, every share's together
        return x.mean() if axis_name is None else jax.lax.pmean(x.mean(), axis_name)

    mean = whole_mean(advantages)
    adv = (advantages - mean) / (jnp.sqrt(whole_mean(jnp.square(advantages - mean))) + 1e-8)
    logp_all = jax.nn.log_softmax(logits)
    logp = jnp.take_along_axis(logp_all, actions[..., None], -1)[..., 0]
    ratio = jnp.exp(logp - old_logp)
    clipped = jnp.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps)
    policy = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    value = 0.5 * jnp.mean(jnp.square(values - returns))
    entropy = -jnp.mean(jnp.sum(jnp.exp(logp_all) * logp_all, -1))
    loss = policy + cfg.value_coef * value - cfg.entropy_coef * entropy
    clip_fraction = jnp.mean(jnp.abs(ratio - 1) > cfg.clip_eps)
    return loss, {"policy": policy, "value": value, "entropy": entropy, "clip_fraction": clip_fraction}


def trial_resets(num_trials: int, trial_len: int) -> jax.Array:
    """``(num_trials, trial_len)``: True at each trial's first step (a new task) and nowhere else,
    episode ends inside a trial included."""
    return jnp.zeros((num_trials, trial_len), bool).at[:, 0].set(True)


class Trials(NamedTuple):
    """A batch of on-policy trials, ready for PPO: ``(num_trials, trial_len, ...)``."""

    tokens: jax.Array
    resets: jax.Array
    actions: jax.Array
    log_probs: jax.Array  # of the actions taken, under the policy that took them
    advantages: jax.Array
    returns: jax.Array  # value targets, in the value head's units
    rewards: jax.Array
    regret: Any = None  # bandits: per-step regret


@dataclass(frozen=True, eq=False)
class MetaRL:
    """The meta-RL objective: PPO over trials of ``trial_len`` steps on fresh tasks of ``split``.

    The model has ``num_actions + 1`` outputs: the policy's logits and the value."""

    env: Any
    spec: TokenSpec
    trial_len: int
    ppo: PPOConfig = PPOConfig()
    split: str = "train"
    kind = "rl2"

    def __post_init__(self):
        check_positive_int("trial_len", self.trial_len)

    @property
    def num_outputs(self) -> int:
        return self.spec.num_actions + 1

    @property
    def value_scale(self) -> float:
        """The discounted return of a whole trial of unit rewards, ``sum_t gamma^t``: the value
        head's unit."""
        return float(sum(self.ppo.gamma ** t for t in range(self.trial_len)))

    def make_trainer(self, model, cfg: TrainConfig) -> "PPOTrainer":
        return PPOTrainer(model, self, cfg)

    def _outputs(self, model, params, tokens, resets):
        out = model.apply(params, tokens, resets)
        if out.shape[-1] != self.num_outputs:
            raise ValueError(f"a meta-RL policy needs num_actions + 1 = {self.num_outputs} outputs (logits and value); "
                             f"the model has {out.shape[-1]}")
        return out[..., :-1], out[..., -1]

    def collect(self, model, params, key, num_trials: int) -> Trials:
        """Roll the sampling policy out on ``num_trials`` fresh tasks; returns the PPO batch."""
        k_tasks, k_rollout = jax.random.split(key)
        tasks = self.env.sample_tasks(k_tasks, num_trials, self.split)
        agent = ModelAgent(params, model, self.spec)
        history = rollout(self.env, agent, tasks, k_rollout, self.trial_len, check_actions=False)
        tokens, resets = self.spec.tokens(history), trial_resets(num_trials, self.trial_len)
        # the parallel face recomputes what the agent computed step by step (the models test the two equal)
        logits, values = self._outputs(model, params, tokens, resets)
        log_probs = jnp.take_along_axis(jax.nn.log_softmax(logits), history.action[..., None], -1)[..., 0]
        advantages, returns = gae(history.reward / self.value_scale, values, self.ppo.gamma, self.ppo.gae_lambda)
        return Trials(tokens, resets, history.action, log_probs, advantages, returns, history.reward, history.regret)

    def loss(self, model, params, trials: Trials, axis_name: str | None = None):
        """PPO's loss on ``trials`` (a share of the minibatch over ``axis_name``, when named)."""
        logits, values = self._outputs(model, params, trials.tokens, trials.resets)
        return ppo_loss(logits, values, trials.actions, trials.log_probs, trials.advantages, trials.returns, self.ppo, axis_name)


def ppo_optimizer(cfg: TrainConfig, steps_per_update: int) -> optax.GradientTransformation:
    """Adam after global-norm clipping (``cfg.grad_clip``), the learning rate annealed linearly
    from ``cfg.learning_rate`` to zero over the run's minibatch steps (PPO practice; the
    warm-up and weight decay of supervised training do not apply)."""
    schedule = optax.linear_schedule(cfg.learning_rate, 0.0, cfg.train_steps * steps_per_update)
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), optax.adam(schedule, eps=1e-5))


class PPOTrainer(Trainer):
    """:class:`icrl.training.Trainer` whose step is one PPO update of a :class:`MetaRL` objective:
    ``cfg.train_steps`` updates of ``cfg.batch_size`` trials each, data parallel over the devices
    (``cfg.num_devices``; 0: every device): each collects and learns from its share of the trials."""

    def __init__(self, model, objective: MetaRL, cfg: TrainConfig):
        if cfg.microbatches != 1:
            raise ValueError(f"meta-RL splits its updates by ppo_minibatches; got microbatches={cfg.microbatches}")
        super().__init__(model, objective, cfg)
        ppo, shards = objective.ppo, self.num_shards
        if cfg.batch_size % (ppo.num_minibatches * shards):
            raise ValueError(f"batch_size={cfg.batch_size} trials must split into num_minibatches={ppo.num_minibatches} equal "
                             f"minibatches" + (f" with an equal share on each of {shards} devices (a multiple of "
                                               f"{ppo.num_minibatches * shards}); or set num_devices" if shards > 1 else ""))
        self.steps_per_update = ppo.num_epochs * ppo.num_minibatches
        self.optimizer = ppo_optimizer(cfg, self.steps_per_update)

    def check_data(self, data) -> None:
        if data is not None:
            raise ValueError("meta-RL makes its own trials: pass data=None")

    def put_data(self, data, step: int = 0):
        self.check_data(data)
        return None

    def _update(self, state: TrainState, key):
        """One device's part of a PPO update (inside :func:`jax.shard_map` over the ``data`` axis):
        its share of the trials, its share of each minibatch, gradients and figures averaged over
        the devices. Returns ``(new state, metrics, whether every minibatch step was finite)``."""
        objective, ppo, shards = self.objective, self.objective.ppo, self.num_shards
        if shards > 1:  # one device keeps the draws of a run made before updates were data parallel
            key = jax.random.fold_in(key, jax.lax.axis_index("data"))
        k_collect, k_epochs = jax.random.split(key)
        local = self.cfg.batch_size // shards
        trials = objective.collect(self.model, state.params, k_collect, local)
        minibatch = local // ppo.num_minibatches
        grad_fn = jax.value_and_grad(lambda p, t: objective.loss(self.model, p, t, "data"), has_aux=True)

        def minibatch_step(carry, idx):
            params, opt_state = carry
            (loss, parts), grads = grad_fn(params, jax.tree.map(lambda x: x[idx], trials))
            loss, parts, grads = jax.lax.pmean((loss, parts, grads), "data")
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, finite_step(loss, grads), parts)

        def epoch(carry, key):
            order = jax.random.permutation(key, local).reshape(ppo.num_minibatches, minibatch)
            return jax.lax.scan(minibatch_step, carry, order)

        (params, opt_state), (losses, finite, parts) = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(k_epochs, ppo.num_epochs))
        metrics = {"loss": losses.mean(), "trial_return": trials.rewards.sum(-1).mean(),
                   **{k: v.mean() for k, v in parts.items()}}
        if trials.regret is not None:
            metrics["trial_regret"] = trials.regret.sum(-1).mean()
        metrics = jax.lax.pmean(metrics, "data")
        return TrainState(state.step + 1, params, opt_state), metrics, jnp.all(finite)

    def _train_step(self, state: TrainState, data, first_nonfinite, schedule):  # PPO's own schedule: self.optimizer
        key = jax.random.fold_in(jax.random.fold_in(self.key, 1), state.step)
        replicated = PartitionSpec()
        # check_vma off: the devices' keys make the trials device-varying; parameters, optimizer state and figures
        # leave as every device's same average (pmean), which is what the replicated out_specs take
        new, metrics, finite = jax.shard_map(self._update, mesh=self.mesh, in_specs=(replicated, replicated),
                                             out_specs=replicated, check_vma=False)(state, key)
        new, first_nonfinite = self._guard(state, new, finite, first_nonfinite)
        return new, metrics, first_nonfinite


__all__ = ["PPOConfig", "MetaRL", "PPOTrainer", "Trials", "gae", "ppo_loss", "trial_resets", "ppo_optimizer"]
