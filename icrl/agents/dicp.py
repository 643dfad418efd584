"""A DICP model deployed with planning: beam search in imagination on its own KV cache."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.grid import cell_index, cell_obs
from icrl.agents.model import INVALID_ACTION, ModelAgent, ModelState
from icrl.planning import Prediction, beam_search, most_likely, split_heads


@struct.dataclass
class DICPAgent(ModelAgent):
    """Acts as AD does (a sliding context of every step so far) but, with ``width > 0``, through
    :func:`icrl.planning.beam_search`: ``width`` beams over ``depth`` imagined steps (fewer
    where the episode ends first), each imagined step one model step per beam that takes the
    imagined transition as a token (predicted reward and next state) and attends to the context's
    KV cache, shared by the beams, and to its own imagined steps (``Transformer.step_beams``).
    Ties, and a plan with no reward in sight, follow the policy's sampled order, so a model that
    predicts no reward acts as AD. ``width=0``: planning off, the action head alone.

    States are a ``size x size`` grid world's cells, index ``x * size + y``; ``horizon`` is the
    episode length (the agent counts its steps within the episode)."""

    width: int = struct.field(pytree_node=False, default=0)
    depth: int = struct.field(pytree_node=False, default=0)
    horizon: int = struct.field(pytree_node=False, default=1)
    size: int = struct.field(pytree_node=False, default=1)
    #: expand only actions the policy gives at least this probability (0: every action; see beam_search)
    min_prob: float = struct.field(pytree_node=False, default=0.0)
    #: plans collect the reward's probability rather than its likelier class (``most_likely``'s ``expected``)
    expected_reward: bool = struct.field(pytree_node=False, default=False)

    def __post_init__(self):
        super().__post_init__()
        if self.state_window or self.context != "step":
            raise ValueError("a DICP agent plans on one KV cache: it takes context='step' and no state_window")
        if self.width < 0 or self.depth < 0 or (self.width > 0) != (self.depth > 0):
            raise ValueError(f"width and depth must both be >= 1 (planning) or both 0 (planning off), got "
                             f"width={self.width!r}, depth={self.depth!r}")
        if not 0 <= self.min_prob <= 1 / self.spec.num_actions:
            raise ValueError(f"min_prob must be in [0, 1/{self.spec.num_actions}] (the policy's likeliest action always "
                             f"qualifies), got {self.min_prob!r}")

    @property
    def num_states(self) -> int:
        return self.size * self.size

    def init(self, key, env_params=None) -> ModelState:
        return super().init(key, env_params).replace(extra=jnp.zeros((), jnp.int32))  # steps into the episode

    def _outputs(self, carry, tokens):
        carry, outputs = self.model.apply(self.params, carry, tokens, None, method="step")
        return carry, split_heads(outputs, self.spec.num_actions, self.num_states)

    def predict(self, carry, parents, prev_state, action, reward, state):
        """One imagined step of a batch of beams (:data:`icrl.planning.Predict`). ``carry``: the real
        context's KV cache, shared by every beam, and each beam's keys and values of its imagined steps
        (``Transformer.step_beams``): a beam copies only its parent's imagined steps, never the context."""
        base, keys, values = carry
        prev_obs, obs = cell_obs(prev_state, self.size), cell_obs(state, self.size)
        transition = self.spec.transition(prev_obs, action, reward, obs, jnp.zeros_like(reward))
        keys, values, outputs = self.model.apply(self.params, base, keys[:, parents], values[:, parents],
                                                 self.spec.token(obs, transition), method="step_beams")
        return (base, keys, values), most_likely(*split_heads(outputs, self.spec.num_actions, self.num_states),
                                                 expected=self.expected_reward)

    def plan(self, key, carry, policy, root: Prediction, obs, steps_left):
        """The plan from ``obs`` after the real step that made ``carry``; ties follow ``policy``'s
        order sampled without replacement (Gumbel keys)."""
        priority = policy / self.temperature + jax.random.gumbel(key, policy.shape)
        return beam_search(self.predict, self.beams_carry(carry), root, cell_index(obs, self.size), priority, steps_left,
                           self.width, self.depth, self.min_prob)

    @staticmethod
    def beams_carry(carry):
        """What :meth:`predict` continues from the real context's cache ``carry``: no imagined step yet."""
        layers, _, heads, _, head_dim = carry.keys.shape
        empty = jnp.zeros((layers, 1, 0, heads, head_dim), carry.keys.dtype)
        return carry, empty, empty

    def act(self, key, state: ModelState, obs):
        carry, (policy, reward_logits, next_logits) = self._outputs(state.carry, self.spec.token(obs, state.prev)[None])
        policy = policy[0]
        if self.width:
            root = most_likely(policy, reward_logits[0], next_logits[0], expected=self.expected_reward)
            plan = self.plan(key, carry, policy, root, obs, self.horizon - state.extra)
            action = plan.first
        elif self.greedy:
            action = jnp.argmax(policy)
        else:
            action = jax.random.categorical(key, policy / self.temperature)
        action = jnp.where(jnp.all(jnp.isfinite(policy)), action, INVALID_ACTION)  # rollout() raises on it
        return action.astype(jnp.int32), state.replace(carry=carry)

    def update(self, state: ModelState, transition) -> ModelState:
        steps = jnp.where(jnp.asarray(transition.done, bool), 0, state.extra + 1)
        return super().update(state, transition).replace(extra=steps)
