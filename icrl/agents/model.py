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
#: How the context grows: every step (AD, online DPT on bandits), or at episode ends only (DPT on MDPs).
CONTEXTS = ("step", "episode")


@struct.dataclass
class ModelState:
    carry: Any  # the backbone's carry for a batch of one: every step so far
    prev: jax.Array  # features of the previous transition, (transition_dim,)
    frozen_carry: Any = None  # context="episode": the carry as the current episode began
    frozen_prev: Any = None  # ... and the last transition before it
    extra: Any = None  # what a subclass tracks besides the context (ICEE: the episode it is in)
    second: Any = None  # state_window: the second, staggered carry
    time: Any = None  # state_window: steps taken


@struct.dataclass
class ModelAgent:
    """Acts in context with frozen ``params``: token ``t`` = (current observation,
    previous transition); the model's output is the action distribution.

    ``context="step"`` (default): the model conditions on every step so far, its
    own current episode included. ``context="episode"``: on the transitions of
    *earlier* episodes only, held fixed while an episode runs and extended at its
    end (DPT's deployment on MDPs, Lee et al. 2023): each step queries the model
    with the current observation against the context as the episode began, while
    a second carry takes in the episode's steps for the next one (two model steps
    per environment step).

    ``greedy=False`` (online DPT/AD) samples from the softmax at ``temperature``;
    ``greedy=True`` takes the argmax. The agent is a pytree (its parameters are
    data), so ``rollout`` traces them instead of baking them into the program.
    A transformer with learned positions has a context of at most ``max_len`` steps:
    ``check_num_steps`` refuses a longer rollout before it starts (relative ones
    slide a window of ``max_len`` steps instead). A finished run's model is read
    back as an agent by :func:`icrl.runs.load_agent`.

    ``state_window=W`` (steps, even): the agent keeps two contexts (recurrent states or key-value
    caches) that take in every step, one restarted at steps ``0, W, 2W, …`` and the other at
    ``W/2, 3W/2, …``, and acts from the older, so after the first ``W`` steps it acts on between
    the last ``W/2`` and ``W`` steps. A recurrent state otherwise spans every step; a transformer
    otherwise slides a window whose first step falls anywhere in an episode, where a window of
    whole episodes (``W`` a multiple of the horizon) starts as its training contexts start. A
    restarted context's first token has no previous transition, as a training window's first token.
    """

    params: Any
    model: nn.Module = struct.field(pytree_node=False)
    spec: TokenSpec = struct.field(pytree_node=False)
    greedy: bool = struct.field(pytree_node=False, default=False)
    temperature: float = struct.field(pytree_node=False, default=1.0)
    context: str = struct.field(pytree_node=False, default="step")
    state_window: int = struct.field(pytree_node=False, default=0)

    def __post_init__(self):
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {self.context!r}")
        if self.state_window and (self.state_window < 2 or self.state_window % 2 or self.context != "step"):
            raise ValueError(f"state_window must be an even number of steps >= 2 with context='step', got "
                             f"{self.state_window!r} with context={self.context!r}")

    @property
    def num_actions(self) -> int:
        return self.spec.num_actions

    def check_num_steps(self, num_steps: int) -> None:
        limit = getattr(self.model, "context_limit", None)
        if limit is not None and self.state_window > limit:
            raise ValueError(f"state_window={self.state_window} steps is longer than the model's context (max_len={limit}, "
                             f"learned positions); take a window of at most {limit} steps")
        if limit is not None and num_steps > limit and not self.state_window:
            raise ValueError(
                f"a rollout of {num_steps} steps is longer than the model's context (max_len={limit}, learned "
                f"positions); evaluate with at most {limit} steps, or train a model with relative positions "
                f"(rotary or alibi), which slide a window of max_len steps"
            )

    def init(self, key, env_params=None) -> ModelState:
        carry, prev = self.model.init_carry(1), self.spec.empty_transition()
        if self.context == "episode":
            return ModelState(carry, prev, carry, prev)
        if self.state_window:
            return ModelState(carry, prev, second=carry, time=jnp.zeros((), jnp.int32))
        return ModelState(carry, prev)

    def _conditions(self, state: ModelState):
        """The condition features of the next token (``None``: a spec without them)."""
        return None

    def _step(self, carry, obs, prev, conditions=None):
        token = self.spec.token(obs, prev, conditions)[None]
        carry, outputs = self.model.apply(self.params, carry, token, None, method="step")
        return carry, outputs[0, : self.spec.num_actions]  # a meta-RL policy's last output is its value

    def _advance(self, state: ModelState, obs):
        conditions = self._conditions(state)
        if self.state_window:
            return self._advance_windowed(state, obs, conditions)
        carry, logits = self._step(state.carry, obs, state.prev, conditions)
        if self.context == "episode":  # act on the context as the episode began; discard that query's carry
            _, logits = self._step(state.frozen_carry, obs, state.frozen_prev, conditions)
        return carry, logits

    def _advance_windowed(self, state: ModelState, obs, conditions):
        """Both carries take the step (each restarted when its turn comes); the older one's logits."""
        w, fresh, empty = self.state_window, self.model.init_carry(1), self.spec.empty_transition()
        phase = state.time % w
        restart = (phase == 0, phase == w // 2)
        out = []
        for carry, again in zip((state.carry, state.second), restart):
            pick = lambda new, old: jax.tree.map(lambda n, o: jnp.where(again, n, o), new, old)  # noqa: E731
            out.append(self._step(pick(fresh, carry), obs, jnp.where(again, empty, state.prev), conditions))
        (first, first_logits), (second, second_logits) = out
        use_first = (state.time < w) | (phase >= w // 2)  # the first carry is the older one
        return (first, second), jnp.where(use_first, first_logits, second_logits)

    def action_logits(self, state: ModelState, obs) -> jax.Array:
        """The logits ``act`` would sample from in ``obs``: ``(num_actions,)``."""
        return self._advance(state, obs)[1]

    def act(self, key, state: ModelState, obs):
        carry, logits = self._advance(state, obs)
        if self.greedy:
            action = jnp.argmax(logits)
        else:
            action = jax.random.categorical(key, logits / self.temperature)
        action = jnp.where(jnp.all(jnp.isfinite(logits)), action, INVALID_ACTION)  # rollout() raises on it
        if self.state_window:
            return action.astype(jnp.int32), state.replace(carry=carry[0], second=carry[1], time=state.time + 1)
        return action.astype(jnp.int32), state.replace(carry=carry)

    def update(self, state: ModelState, transition) -> ModelState:
        prev = self.spec.transition(transition.obs, transition.action, transition.reward, transition.next_obs, transition.done)
        state = state.replace(prev=prev)
        if self.context == "episode":  # an episode ended: it joins the fixed context
            done = jnp.asarray(transition.done, bool)
            pick = lambda new, old: jax.tree.map(lambda n, o: jnp.where(done, n, o), new, old)  # noqa: E731
            state = state.replace(frozen_carry=pick(state.carry, state.frozen_carry), frozen_prev=pick(prev, state.frozen_prev))
        return state


