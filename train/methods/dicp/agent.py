"""A DICP model deployed with planning: beam search in imagination on its own KV cache."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.grid import cell_index, cell_obs
from icrl.agents.model import INVALID_ACTION, ModelAgent, ModelState
from icrl.planning import PLAN_REWARDS, Prediction, beam_search, most_likely, sampled, split_heads


@struct.dataclass
class DICPExtra:
    """What a DICP agent tracks besides its context: ``steps`` into the episode, and for
    ``plan_reward="sample"`` the episode's reward ``thresholds (num_states,)`` and the ``key`` of the next draw."""

    steps: jax.Array
    key: jax.Array
    thresholds: jax.Array


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
    #: what a plan collects per imagined step (:data:`icrl.planning.PLAN_REWARDS`): the reward's likelier class
    #: (``argmax``), its probability (``expected``), or a class drawn per cell and episode (``sample``)
    plan_reward: str = struct.field(pytree_node=False, default="argmax")

    def __post_init__(self):
        super().__post_init__()
        if self.state_window or self.context != "step":
            raise ValueError("a DICP agent plans on one KV cache: it takes context='step' and no state_window")
        if self.width < 0 or self.depth < 0 or (self.width > 0) != (self.depth > 0):
            raise ValueError(f"width and depth must both be >= 1 (planning) or both 0 (planning off), got "
                             f"width={self.width!r}, depth={self.depth!r}")
        if self.plan_reward not in PLAN_REWARDS:
            raise ValueError(f"plan_reward must be one of {PLAN_REWARDS}, got {self.plan_reward!r}")
        if not 0 <= self.min_prob <= 1 / self.spec.num_actions:
            raise ValueError(f"min_prob must be in [0, 1/{self.spec.num_actions}] (the policy's likeliest action always "
                             f"qualifies), got {self.min_prob!r}")

    @property
    def num_states(self) -> int:
        return self.size * self.size

    def init(self, key, env_params=None) -> ModelState:
        key, draw = jax.random.split(key)
        extra = DICPExtra(jnp.zeros((), jnp.int32), key, self._thresholds(draw))
        return super().init(key, env_params).replace(extra=extra)

    def _thresholds(self, key):
        """Each cell's reward threshold for an episode: uniform draws (``sample``), else 0.5 (unused)."""
        if self.plan_reward == "sample":
            return jax.random.uniform(key, (self.num_states,))
        return jnp.full((self.num_states,), 0.5)

    def _predictions(self, policy, reward_logits, next_logits, thresholds) -> Prediction:
        if self.plan_reward == "sample":
            return sampled(policy, reward_logits, next_logits, thresholds)
        return most_likely(policy, reward_logits, next_logits, expected=self.plan_reward == "expected")

    def _outputs(self, carry, tokens):
        carry, outputs = self.model.apply(self.params, carry, tokens, None, method="step")
        return carry, split_heads(outputs, self.spec.num_actions, self.num_states)

    def predict(self, carry, parents, prev_state, action, reward, state):
        """One imagined step of a batch of beams (:data:`icrl.planning.Predict`). ``carry``: the real
        context's KV cache, shared by every beam, and each beam's keys and values of its imagined steps
        (``Transformer.step_beams``): a beam copies only its parent's imagined steps, never the context."""
        base, keys, values, thresholds = carry
        prev_obs, obs = cell_obs(prev_state, self.size), cell_obs(state, self.size)
        transition = self.spec.transition(prev_obs, action, reward, obs, jnp.zeros_like(reward))
        keys, values, outputs = self.model.apply(self.params, base, keys[:, parents], values[:, parents],
                                                 self.spec.token(obs, transition), method="step_beams")
        return (base, keys, values, thresholds), self._predictions(*split_heads(outputs, self.spec.num_actions, self.num_states),
                                                                   thresholds)

    def plan(self, key, carry, policy, root: Prediction, obs, steps_left, thresholds=None):
        """The plan from ``obs`` after the real step that made ``carry``; ties follow ``policy``'s
        order sampled without replacement (Gumbel keys). ``thresholds``: the episode's (``sample``)."""
        priority = policy / self.temperature + jax.random.gumbel(key, policy.shape)
        return beam_search(self.predict, self.beams_carry(carry, thresholds), root, cell_index(obs, self.size), priority, steps_left,
                           self.width, self.depth, self.min_prob)

    def beams_carry(self, carry, thresholds=None):
        """What :meth:`predict` continues from the real context's cache ``carry``: no imagined step yet, and
        the episode's reward ``thresholds`` (``sample``; default: 0.5 everywhere, the likelier class)."""
        layers, _, heads, _, head_dim = carry.keys.shape
        empty = jnp.zeros((layers, 1, 0, heads, head_dim), carry.keys.dtype)
        thresholds = jnp.full((self.num_states,), 0.5) if thresholds is None else thresholds
        return carry, empty, empty, thresholds

    def act(self, key, state: ModelState, obs):
        carry, (policy, reward_logits, next_logits) = self._outputs(state.carry, self.spec.token(obs, state.prev)[None])
        policy = policy[0]
        if self.width:
            extra = state.extra
            root = self._predictions(policy, reward_logits[0], next_logits[0], extra.thresholds)
            plan = self.plan(key, carry, policy, root, obs, self.horizon - extra.steps, extra.thresholds)
            action = plan.first
        elif self.greedy:
            action = jnp.argmax(policy)
        else:
            action = jax.random.categorical(key, policy / self.temperature)
        action = jnp.where(jnp.all(jnp.isfinite(policy)), action, INVALID_ACTION)  # rollout() raises on it
        return action.astype(jnp.int32), state.replace(carry=carry)

    def update(self, state: ModelState, transition) -> ModelState:
        extra, done = state.extra, jnp.asarray(transition.done, bool)
        extra = extra.replace(steps=jnp.where(done, 0, extra.steps + 1))
        if self.plan_reward == "sample":  # a new draw for every episode; the other searches never read one
            key, draw = jax.random.split(extra.key)
            extra = extra.replace(key=jnp.where(done, key, extra.key),
                                  thresholds=jnp.where(done, self._thresholds(draw), extra.thresholds))
        return super().update(state, transition).replace(extra=extra)
