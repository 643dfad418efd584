"""An ICEE model acting in context: every token of the running episode asks for the best, and a
finished episode is relabelled with the flag it earned."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from icrl.agents.model import ModelAgent, ModelState
from train.methods.icee.objective import icee_flag, icee_token_conditions


@struct.dataclass
class ICEEState:
    """What an ICEE agent keeps of the episode it is in, beside its model's context."""

    start_carry: Any  # the model's carry as the episode began
    base: jax.Array  # (horizon, token_dim - 4) the episode's tokens without their conditions
    rewards: jax.Array  # (horizon,)
    step: jax.Array  # () steps taken in the episode
    best: jax.Array  # () the best return of a finished episode (the floor before any)

@struct.dataclass
class ICEEAgent(ModelAgent):
    """An ICEE model acting in context (Dai et al. 2024). While an episode runs, every token asks
    for the best (:func:`train.methods.icee.objective.icee_token_conditions`): no shortfall of the in-episode
    return to go from the best the state allows, and the cross-episode flag on ("at least as
    good as every earlier episode", or better than every one with ``strict``). When the episode ends (:meth:`end_episode`, which
    ``rollout`` calls) its tokens are relabelled as its data would carry them as a finished
    episode: the flag it really earned and no in-episode conditions. The context goes back to
    the episode's start and takes the episode in again, so earlier episodes never claim a
    success they did not have."""

    horizon: int = struct.field(pytree_node=False, default=1)
    floor: float = struct.field(pytree_node=False, default=0.0)  # the return of an empty episode (the environment's return_floor)
    strict: bool = struct.field(pytree_node=False, default=False)  # a tie with the best earlier episode earns no flag (as its data)

    def __post_init__(self):
        super().__post_init__()
        if self.state_window or self.context != "step":
            raise ValueError(f"an ICEE agent relabels its one context at episode ends: it takes context='step' and no "
                             f"state_window, got context={self.context!r}, state_window={self.state_window!r}")

    def init(self, key, env_params=None) -> ModelState:
        state = super().init(key, env_params)
        base = jnp.zeros((self.horizon, self.spec.token_dim - self.spec.num_conditions), jnp.float32)
        floor = jnp.full((), self.floor, jnp.float32)
        return state.replace(extra=ICEEState(state.carry, base, jnp.zeros(self.horizon), jnp.zeros((), jnp.int32), floor))

    def _conditions(self, state: ModelState):
        return icee_token_conditions(jnp.array([1.0, 0.0, 1.0]), 1.0)  # the current episode: no shortfall, flag on

    def update(self, state: ModelState, transition) -> ModelState:
        extra = state.extra
        base = jnp.concatenate([self.spec.encode_obs(transition.obs), state.prev], axis=-1)  # this step's token, unconditioned
        i = jnp.minimum(extra.step, self.horizon - 1)
        extra = extra.replace(base=extra.base.at[i].set(base), rewards=extra.rewards.at[i].set(transition.reward),
                              step=extra.step + 1)
        return super().update(state, transition).replace(extra=extra)

    def end_episode(self, state: ModelState) -> ModelState:
        extra = state.extra
        ret = extra.rewards.sum()
        finished = jnp.stack([0.0, 0.0, icee_flag(ret, extra.best, self.floor, self.strict)])  # a finished episode keeps only the flag it earned
        conditions = jnp.broadcast_to(icee_token_conditions(finished, 0.0), (self.horizon, self.spec.num_conditions))
        tokens = jnp.concatenate([extra.base, conditions], axis=-1)

        def step(carry, token):
            carry, _ = self.model.apply(self.params, carry, token[None], None, method="step")
            return carry, None

        carry, _ = jax.lax.scan(step, extra.start_carry, tokens)
        extra = ICEEState(carry, jnp.zeros_like(extra.base), jnp.zeros_like(extra.rewards), jnp.zeros((), jnp.int32),
                          jnp.maximum(extra.best, ret))
        return state.replace(carry=carry, extra=extra)
