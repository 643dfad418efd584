"""A pretrained sequence model as an agent: its state is its context (KV cache or S5 state)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from icrl.models.tokens import TokenSpec

#: What a model agent plays when its outputs are not finite; ``rollout`` refuses a history holding it.
INVALID_ACTION = -1


@struct.dataclass
class ModelState:
    carry: Any  # the backbone's carry for a batch of one
    prev: jax.Array  # features of the previous transition, (transition_dim,)


@struct.dataclass
class ModelAgent:
    """Acts in context with frozen ``params``: token ``t`` = (current observation,
    previous transition); the model's output is the action distribution.

    ``greedy=False`` (online DPT/AD) samples from the softmax at ``temperature``;
    ``greedy=True`` takes the argmax. The agent is a pytree (its parameters are
    data), so ``rollout`` traces them instead of baking them into the program.
    A transformer with learned positions has a context of at most ``max_len`` steps:
    ``check_num_steps`` refuses a longer rollout before it starts (rotary ones slide
    a window of ``max_len`` steps instead). A finished run's model is read back
    as an agent by :func:`icrl.runs.load_agent`.
    """

    params: Any
    model: nn.Module = struct.field(pytree_node=False)
    spec: TokenSpec = struct.field(pytree_node=False)
    greedy: bool = struct.field(pytree_node=False, default=False)
    temperature: float = struct.field(pytree_node=False, default=1.0)

    @property
    def num_actions(self) -> int:
        return self.spec.num_actions

    def check_num_steps(self, num_steps: int) -> None:
        limit = getattr(self.model, "context_limit", None)
        if limit is not None and num_steps > limit:
            raise ValueError(
                f"a rollout of {num_steps} steps is longer than the model's context (max_len={limit}, learned "
                f"positions); evaluate with at most {limit} steps, or train a model with relative positions "
                f"(rotary or alibi), which slide a window of max_len steps"
            )

    def init(self, key, env_params=None) -> ModelState:
        return ModelState(self.model.init_carry(1), self.spec.empty_transition())

    def act(self, key, state: ModelState, obs):
        token = self.spec.token(obs, state.prev)[None]
        carry, logits = self.model.apply(self.params, state.carry, token, None, method="step")
        logits = logits[0]
        if self.greedy:
            action = jnp.argmax(logits)
        else:
            action = jax.random.categorical(key, logits / self.temperature)
        action = jnp.where(jnp.all(jnp.isfinite(logits)), action, INVALID_ACTION)  # rollout() raises on it
        return action.astype(jnp.int32), ModelState(carry, state.prev)

    def update(self, state: ModelState, transition) -> ModelState:
        prev = self.spec.transition(transition.obs, transition.action, transition.reward, transition.next_obs, transition.done)
        return state.replace(prev=prev)
