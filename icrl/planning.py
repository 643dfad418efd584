"""Planning with a learned model of the task, in context (DICP, Son et al. 2025).

A DICP model's output at every token holds three heads side by side
(:func:`split_heads`): the policy's action logits, and for *each* action the logits of the
reward it would earn (two classes, 0 and 1) and of the state it would lead to. In training
only the action the source took is scored on the last two (:func:`dynamics_loss`); deployed,
:func:`beam_search` rolls the model's own context forward in imagination with those
predictions and takes the first action of the beam that collects the most predicted reward.

The search is generic over ``predict``, one imagined step for a batch of beams, so the same
search runs on a transformer's KV cache (:class:`train.methods.dicp.agent.DICPAgent`) and on a
hand-written model of a room (the tests).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

#: classes of the reward head: rewards 0 and 1 (the grid worlds' rewards)
REWARD_CLASSES = 2


def num_outputs(num_actions: int, num_states: int) -> int:
    """Width of a DICP model's output: policy logits, then per action the reward and next-state logits."""
    return num_actions * (1 + REWARD_CLASSES + num_states)


def next_state_offset(num_actions: int) -> int:
    """Where a DICP model's next-state logits begin in its output (after the policy and reward logits)."""
    return num_actions * (1 + REWARD_CLASSES)


def split_heads(outputs: jax.Array, num_actions: int, num_states: int):
    """``outputs (..., num_outputs)`` -> ``(policy (..., A), reward (..., A, 2), next_state (..., A, S))`` logits."""
    a = num_actions
    if outputs.shape[-1] != num_outputs(num_actions, num_states):
        raise ValueError(f"a DICP model for {num_actions} actions and {num_states} states has "
                         f"{num_outputs(num_actions, num_states)} outputs, got {outputs.shape[-1]}")
    lead = outputs.shape[:-1]
    reward = outputs[..., a: a + a * REWARD_CLASSES].reshape(lead + (a, REWARD_CLASSES))
    next_state = outputs[..., next_state_offset(a):].reshape(lead + (a, num_states))
    return outputs[..., :a], reward, next_state


class DynamicsLabels(NamedTuple):
    """What a DICP position is trained on: the source's ``action``, and the ``reward`` class and
    ``next_state`` index that action led to. All ``(B, T) int32``."""

    action: jax.Array
    reward: jax.Array
    next_state: jax.Array


def dynamics_loss(outputs: jax.Array, labels: DynamicsLabels, num_actions: int, num_states: int,
                  weight: float = 1.0) -> jax.Array:
    """Action cross-entropy plus ``weight`` x (reward + next-state cross-entropies of the taken action's heads)."""
    policy, reward, next_state = split_heads(outputs, num_actions, num_states)
    taken = labels.action[..., None, None]
    reward = jnp.take_along_axis(reward, taken, axis=-2)[..., 0, :]
    next_state = jnp.take_along_axis(next_state, taken, axis=-2)[..., 0, :]
    ce = optax.softmax_cross_entropy_with_integer_labels
    dynamics = ce(reward, labels.reward).mean() + ce(next_state, labels.next_state).mean()
    return ce(policy, labels.action).mean() + weight * dynamics


class Prediction(NamedTuple):
    """A model's most likely outcome of every action: ``reward (..., A)`` (0 or 1), ``next_state (..., A)``,
    and its ``policy (..., A)`` logits there (they order beams of equal predicted reward). ``score (..., A)``,
    where given, is what a beam collects for the action in place of ``reward`` (the reward's probability:
    :func:`most_likely`'s ``expected``); the imagined token still carries ``reward``."""

    reward: jax.Array
    next_state: jax.Array
    policy: jax.Array
    score: jax.Array | None = None


#: how a plan counts reward: ``argmax`` (the likelier class, 0 or 1: the paper's search), ``expected`` (its probability),
#: ``sample`` (drawn: rewarded where the probability exceeds a threshold drawn per cell and episode, :func:`sampled`)
PLAN_REWARDS = ("argmax", "expected", "sample")


def most_likely(policy: jax.Array, reward_logits: jax.Array, next_state_logits: jax.Array, expected: bool = False) -> Prediction:
    """The likeliest reward and next state of every action; ``expected``: beams collect the reward's
    probability (the expected reward), so that a plan heads where reward is likeliest even where no
    single cell is likelier rewarded than not (the argmax search then sees no reward and follows the policy)."""
    score = jax.nn.softmax(reward_logits, -1)[..., 1] if expected else None
    return Prediction(jnp.argmax(reward_logits, -1).astype(jnp.float32), jnp.argmax(next_state_logits, -1).astype(jnp.int32),
                      policy, score)


def sampled(policy: jax.Array, reward_logits: jax.Array, next_state_logits: jax.Array, thresholds: jax.Array) -> Prediction:
    """As :func:`most_likely`, but an action is rewarded where its reward's probability exceeds the
    threshold of the cell it leads to (``thresholds (num_states,)``, uniform draws held for an episode):
    a plan heads for one drawn hypothesis of where reward is, as posterior sampling does, and cells
    the model is sure of (probability near 0 or 1) keep their likelier class. Thresholds of 0.5 give
    :func:`most_likely`."""
    next_state = jnp.argmax(next_state_logits, -1).astype(jnp.int32)
    reward = (jax.nn.softmax(reward_logits, -1)[..., 1] > thresholds[next_state]).astype(jnp.float32)
    return Prediction(reward, next_state, policy)


def _gain(pred: Prediction) -> jax.Array:
    return pred.reward if pred.score is None else pred.score


class Plan(NamedTuple):
    """The best beam: its ``first`` action, predicted ``value`` (cumulative reward; less ``depth + 1`` per action below
    :func:`beam_search`'s ``min_prob``), and its imagined
    ``actions (depth,)`` and ``states (depth,)`` (the state each action leads to)."""

    first: jax.Array
    value: jax.Array
    actions: jax.Array
    states: jax.Array


#: ``predict(carry, parents (K,), prev_state (K,), action (K,), reward (K,), state (K,)) -> (carry, Prediction (K, A))``:
#: beam ``k`` continues beam ``parents[k]`` of ``carry`` (the previous level's batch of beams) with the imagined
#: transition ``prev_state --action--> state`` earning ``reward``, and predicts every action's outcome in ``state``.
Predict = Callable


#: with expected rewards, the policy's order breaks ties within this much predicted reward
EXPECTED_TIE = 1e-4


def _order(priority: jax.Array) -> jax.Array:
    """Each entry's place when sorted by decreasing ``priority`` along the last axis (0 = first)."""
    return jnp.argsort(jnp.argsort(-priority, axis=-1), axis=-1)


def _best(scores: jax.Array, states: jax.Array, k: int) -> jax.Array:
    """The ``k`` best candidates of ``scores`` (distinct, tie-broken), a beam per imagined state first:
    a candidate is set behind every other while a better one reaches the same state (the room is
    deterministic, so the two would have the same future), so the beams spread over states."""
    shadowed = jnp.any((states[None, :] == states[:, None]) & (scores[None, :] > scores[:, None]), axis=1)
    _, top = jax.lax.top_k(jnp.where(shadowed, scores - 2.0 * (jnp.max(jnp.abs(scores)) + 1.0), scores), k)
    return top


def beam_search(predict: Predict, carry, root: Prediction, state: jax.Array, priority: jax.Array, steps_left: jax.Array,
                width: int, depth: int, min_prob: float = 0.0) -> Plan:
    """Beam search over ``depth`` imagined steps from ``state`` (an index), keeping the ``width``
    beams of the most predicted reward.

    ``root``: every action's predicted outcome in ``state`` (``(A,)`` each, from the real step that
    made ``carry``, a batch of one). Beams of equal predicted reward are ordered by ``priority (A,)``
    at the first step (the deployed agent gives the policy's order sampled without replacement, so
    with no reward in sight the plan is the policy's action), later by their parent's place and
    then the model's policy at the imagined state. Of beams that reach the same state only the
    best is kept while others remain. Rewards of levels past ``steps_left`` (the episode's end)
    count nothing. ``width`` and ``depth`` are static, so the search jits and vmaps over tasks.

    ``min_prob`` > 0 expands only actions the model's policy gives at least that probability (at
    the real state and at imagined ones): the reward and next-state heads of an action the source
    never took in such a context were never trained, and a search that maximises predicted reward
    seeks out their errors. A beam through a rarer action scores ``depth + 1`` (more than any plan
    can collect) below its predicted reward for each such action, so it wins only where every beam
    has one; ``0`` expands every action (the paper's search).

    Predictions with a ``score`` (:func:`most_likely`'s ``expected``) rank beams by the sum of those
    scores, the expected reward, and the policy breaks ties only within :data:`EXPECTED_TIE`."""
    num_actions = root.reward.shape[-1]
    if width < 1 or depth < 1:
        raise ValueError(f"beam_search needs width >= 1 and depth >= 1, got width={width}, depth={depth}")

    def penalty(policy):  # actions below min_prob cost more than any plan can collect
        if not min_prob:
            return jnp.zeros(policy.shape)
        return (depth + 1.0) * (jax.nn.softmax(policy, axis=-1) < min_prob)

    # level 1: the root's actions, ranked by reward, then priority (squashed into (-tie, 0]: it only breaks ties,
    # below a reward of 1, or below any difference of expected reward that matters)
    tie = 1.0 if root.score is None else EXPECTED_TIE
    k = min(width, num_actions)
    first = _gain(root) - penalty(root.policy)
    top = _best(first - tie * _order(priority) / num_actions, root.next_state, k)
    value, last_reward = first[top], root.reward[top]
    actions, states = top[:, None], root.next_state[top][:, None]
    prev = jnp.full((k,), state, jnp.int32)
    parents = jnp.zeros((k,), jnp.int32)
    for level in range(2, depth + 1):
        carry, pred = predict(carry, parents, prev, actions[:, -1], last_reward, states[:, -1])
        counts = (level <= steps_left).astype(jnp.float32)
        scores = (value[:, None] + _gain(pred) * counts - penalty(pred.policy)).reshape(-1)  # (k * A,)
        n = scores.shape[0]
        place = (jnp.arange(k)[:, None] * num_actions + _order(pred.policy)).reshape(-1)  # parent, then the policy
        k = min(width, n)
        top = _best(scores - tie * place / n, pred.next_state.reshape(-1), k)
        parents, chosen = top // num_actions, top % num_actions
        value = scores[top]
        prev = states[parents, -1]
        last_reward = pred.reward[parents, chosen] * counts
        actions = jnp.concatenate([actions[parents], chosen[:, None]], axis=1)
        states = jnp.concatenate([states[parents], pred.next_state[parents, chosen][:, None]], axis=1)
    return Plan(actions[0, 0], value[0], actions[0], states[0])
