"""A pretrained sequence model as an agent: its state is its context (KV cache or S5 state)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from icrl.models.tokens import TokenSpec


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
    A transformer's context is at most ``max_len`` steps: ``check_num_steps``
    refuses a longer rollout before it starts. A finished run's model is read back
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
        max_len = getattr(self.model, "max_len", None)
        if max_len is not None and num_steps > max_len:
            raise ValueError(
                f"a rollout of {num_steps} steps is longer than the model's context (max_len={max_len}); "
                f"evaluate with at most {max_len} steps or train a model with a longer context"
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
        return action.astype(jnp.int32), ModelState(carry, state.prev)

    def update(self, state: ModelState, transition) -> ModelState:
        prev = self.spec.transition(transition.obs, transition.action, transition.reward, transition.next_obs, transition.done)
        return state.replace(prev=prev)
