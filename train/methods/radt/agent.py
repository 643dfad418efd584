"""A retrieval-augmented model as an agent (RA-DT): a short window of its own recent steps, and
chunks of its earlier experience on the task retrieved from a memory that starts empty."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from icrl.agents.model import INVALID_ACTION
from icrl.models.tokens import TokenSpec
from icrl.retrieval import ChunkMemory


@struct.dataclass
class RADTState:
    tokens: jax.Array  # (capacity + window, token_dim - 1): every token so far (the memory), then room for a window
    keys: jax.Array  # (capacity // chunk, embed_dim): each whole chunk's key, set as the chunk ends
    chunk_rewards: jax.Array  # (capacity // chunk,) the reward each chunk has collected
    time: jax.Array  # () steps taken
    prev: jax.Array  # features of the previous transition


@struct.dataclass
class RADTAgent:
    """Acts with frozen ``params`` on ``memory.prefix_len`` retrieved tokens followed by a window of
    its last ``window`` steps (:class:`train.methods.radt.objective.RADTObjective` trains on the same layout).
    Retrieval draws from this task's own steps before the window, so the memory fills with the
    agent's episodes and holds nothing else. ``capacity``: the most steps a rollout may take (the
    memory is a fixed array, so rollouts jit and vmap). A chunk's key is computed once, as it
    ends, so a step's retrieval costs one query against the keys. Each step runs the model on the
    whole input (the retrieved chunks change from step to step, so there is no cache to extend)."""

    params: Any
    model: nn.Module = struct.field(pytree_node=False)
    spec: TokenSpec = struct.field(pytree_node=False)  # with one condition feature: the retrieved flag
    memory: ChunkMemory = struct.field(pytree_node=False)
    window: int = struct.field(pytree_node=False)
    capacity: int = struct.field(pytree_node=False)
    greedy: bool = struct.field(pytree_node=False, default=False)

    def __post_init__(self):
        if self.spec.num_conditions != 1:
            raise ValueError(f"RA-DT's tokens carry one condition feature (retrieved or not), got a spec with {self.spec.num_conditions}")
        if self.window < 1 or self.capacity < self.window:
            raise ValueError(f"window must be >= 1 and capacity >= window, got window={self.window}, capacity={self.capacity}")

    @property
    def num_actions(self) -> int:
        return self.spec.num_actions

    @property
    def _base(self) -> TokenSpec:
        return dataclasses.replace(self.spec, num_conditions=0)

    def check_num_steps(self, num_steps: int) -> None:
        if num_steps > self.capacity:
            raise ValueError(f"a rollout of {num_steps} steps is longer than the agent's memory (capacity={self.capacity} steps)")

    def init(self, key, env_params=None) -> RADTState:
        dim, num_chunks = self.spec.token_dim - 1, self.capacity // self.memory.chunk
        return RADTState(jnp.zeros((self.capacity + self.window, dim)), jnp.zeros((num_chunks, self.memory.embed_dim)),
                         jnp.zeros(num_chunks), jnp.zeros((), jnp.int32), self.spec.empty_transition())

    def action_logits(self, key, state: RADTState, obs):
        """``(logits, tokens)``: what ``act`` samples from, and the memory with this step's token.
        The input is :meth:`icrl.retrieval.ChunkMemory.sequence` of the agent's own steps, as in training."""
        t = state.time
        tokens = state.tokens.at[t].set(self._base.token(obs, state.prev))
        start = jnp.maximum(t - self.window + 1, 0)
        query = self.memory.query(tokens, t + 1)  # the context's most recent steps, this one included
        found = self.memory.select_chunks(state.keys, state.chunk_rewards, query, start, key)
        inputs = self.memory.with_window(self.memory.values(tokens, *found), tokens, start, self.window)
        logits = self.model.apply(self.params, inputs[None], None)
        return logits[0, self.memory.prefix_len + t - start, : self.num_actions], tokens

    def act(self, key, state: RADTState, obs):
        k_retrieve, k_act = jax.random.split(key)
        logits, tokens = self.action_logits(k_retrieve, state, obs)
        action = jnp.argmax(logits) if self.greedy else jax.random.categorical(k_act, logits)
        action = jnp.where(jnp.all(jnp.isfinite(logits)), action, INVALID_ACTION)  # rollout() raises on it
        return action.astype(jnp.int32), state.replace(tokens=tokens)

    def update(self, state: RADTState, transition) -> RADTState:
        prev = self.spec.transition(transition.obs, transition.action, transition.reward, transition.next_obs, transition.done)
        t, chunk = state.time, self.memory.chunk
        j = t // chunk  # past the last whole chunk (capacity not a multiple of chunk), writes are dropped
        chunk_rewards = state.chunk_rewards.at[j].add(jnp.asarray(transition.reward, jnp.float32), mode="drop")
        ended = self.memory.chunk_keys(jax.lax.dynamic_slice_in_dim(state.tokens, j * chunk, chunk))[0]
        slot = jnp.where((t + 1) % chunk == 0, j, state.keys.shape[0])  # the chunk's key once it ends, else dropped
        keys = state.keys.at[slot].set(ended, mode="drop")
        return state.replace(keys=keys, chunk_rewards=chunk_rewards, time=t + 1, prev=prev)


__all__ = ["RADTAgent", "RADTState"]
