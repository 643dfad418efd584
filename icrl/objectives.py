"""Pretraining objectives: what a batch of tokens and labels is for DPT and for AD, and the loss.

Batch samplers are pure and jittable: they take the training :class:`icrl.types.Samples`
(device arrays, an argument of the training step, never constants baked into
it) and a key, and return ``(tokens, resets, labels)`` with a leading batch axis (``resets``
``None`` where no sequence restarts inside: the model then knows it statically).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from icrl import planning
from icrl.models.tokens import TokenSpec
from icrl.types import Samples


def sample_tasks(data: Samples, key, count: int) -> jax.Array:
    """``count`` task indices: uniform, or in proportion to ``data.weights`` (learning-history filtering)."""
    num_tasks = data.history.action.shape[0]
    if data.weights is None:
        return jax.random.randint(key, (count,), 0, num_tasks)
    return jax.random.categorical(key, jnp.log(data.weights), shape=(count,))


def any_step_windows(key, batch_size: int, length: int, window: int) -> jax.Array:
    """``(B, window)`` step indices of windows of ``window`` steps that begin at every step of a
    history of ``length`` they fit after, all alike (windows shorter than an episode)."""
    first = jax.random.randint(key, (batch_size,), 0, length - window + 1)
    return first[:, None] + jnp.arange(window)


def step_windows(start: jax.Array, back: jax.Array, horizon: int, length: int) -> jax.Array:
    """``(B, length)`` step indices of windows that begin ``back`` steps before episode ``start``
    (a window at the sequence's start begins at it): windows that begin at any step of an
    episode, as a sliding context does (AD's ``window_starts="step"``, ICEE's windows)."""
    first = start * horizon - jnp.where(start > 0, back, 0)
    return first[:, None] + jnp.arange(length)


class Weighted(NamedTuple):
    """Labels with a weight per position: ``labels (B, T) int32``, ``weights (B, T) float32 >= 0``.
    An objective whose positions count unequally (ICEE's unbiasing weights) returns these
    in place of plain labels; :func:`cross_entropy` then takes the weighted mean."""

    labels: jax.Array
    weights: jax.Array


def cross_entropy(logits: jax.Array, labels) -> jax.Array:
    """Mean cross-entropy over every position: ``logits (B, T, A)``, ``labels (B, T)``; for
    :class:`Weighted` labels the weighted mean, self-normalised over the batch (divided by the
    weights' sum, so its scale does not depend on how large the weights run)."""
    if isinstance(labels, Weighted):
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels.labels)
        return jnp.sum(losses * labels.weights) / jnp.maximum(jnp.sum(labels.weights), 1e-8)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@dataclass(frozen=True)
class DPTObjective:
    """Decision-pretrained transformer: predict the optimal action for the query at
    **every** context prefix: position ``t`` has seen ``t`` transitions, ``t = 0..T``
    for a context of ``T`` (datasets made before the full prefix was labelled hold
    ``T`` queries, ``t = 0..T-1``; both work)."""

    spec: TokenSpec
    kind = "dpt"

    def sample_batch(self, data: Samples, key, batch_size: int):
        idx = sample_tasks(data, key, batch_size)
        return self.batch_of(jax.tree.map(lambda x: x[idx], data._replace(weights=None)))

    def batch_of(self, batch: Samples):
        """``(tokens, resets, labels)`` of every context in ``batch`` (a stream's fresh samples)."""
        return self.spec.tokens(batch.history, batch.queries), None, batch.labels  # None: no resets


def check_window_span(context_episodes: int, episode_stride: int, num_episodes: int) -> None:
    """Raise unless a window of ``context_episodes`` episodes, every ``episode_stride``-th, fits histories of ``num_episodes``."""
    span = (context_episodes - 1) * episode_stride + 1
    if span > num_episodes:
        raise ValueError(f"a window of {context_episodes} episodes with stride {episode_stride} spans {span} episodes; "
                         f"the histories have only {num_episodes}")


@dataclass(frozen=True)
class ADObjective:
    """Algorithm Distillation: predict the source's next action at every position of a
    window of ``context_episodes`` episodes, taken every ``episode_stride`` episodes
    from a learning history (a stride > 1 compresses learning into the window).

    ``window_starts="step"`` (stride 1 only) moves a window that does not begin at
    the history's start back by a uniform 0..horizon-1 steps, so windows begin at
    every step of an episode, as a sliding context does when a model runs past
    its training length; a window still begins at the history's start with
    probability ``1 / (num_episodes - context_episodes + 1)``.

    ``paired=True`` draws two windows from each of ``batch_size / 2`` histories, as rows
    ``2i`` and ``2i + 1`` (the pairs T2MIR's contrastive loss needs), and the batch carries a
    fourth element, each row's task (``Samples.task`` rows, ``(batch, P)``), so that windows
    of another history of the same goal are not taken for negatives.

    ``episode_resets`` restarts the model's state at each episode in the window.
    Off by default: AD's in-context improvement needs memory *across* episodes;
    a new task always starts a fresh sequence anyway.

    ``window_steps > 0`` (with ``window_starts="step"``, one episode): windows of that many
    steps, shorter than an episode, beginning at every step they fit after alike.
    """

    spec: TokenSpec
    horizon: int
    context_episodes: int
    episode_stride: int = 1
    episode_resets: bool = False
    window_starts: str = "episode"
    paired: bool = False
    window_steps: int = 0
    kind = "ad"

    def __post_init__(self):
        if self.window_starts not in ("episode", "step"):
            raise ValueError(f"window_starts must be 'episode' or 'step', got {self.window_starts!r}")
        if self.window_starts == "step" and self.episode_stride != 1:
            raise ValueError(f"window_starts='step' needs episode_stride=1, got {self.episode_stride}")
        if self.window_starts == "step" and self.episode_resets:
            raise ValueError("window_starts='step' cuts episodes, so it cannot reset the state at episode ends")
        if self.window_steps and (self.window_starts != "step" or self.context_episodes != 1):
            raise ValueError(f"window_steps={self.window_steps} needs window_starts='step' and context_episodes=1, got "
                             f"{self.window_starts!r} and {self.context_episodes}")

    def check_batch_size(self, batch_size: int) -> None:
        if self.paired and batch_size % 2:
            raise ValueError(f"paired windows need an even batch per device, got {batch_size}")

    def check(self, meta: dict) -> None:
        check_window_span(self.context_episodes, self.episode_stride, meta["num_episodes"])
        if self.window_steps > meta["num_episodes"] * self.horizon:
            raise ValueError(f"a window of {self.window_steps} steps is longer than the histories of {meta['num_episodes']} "
                             f"episodes of {self.horizon} steps")

    def sample_batch(self, data: Samples, key, batch_size: int):
        idx, h, resets = self.windows(data, key, batch_size)
        return self._with_task(data, idx, (self.spec.tokens(h), resets, self.labels(h)))

    def labels(self, h):
        """What the window's positions are trained on: the source's actions."""
        return h.action

    def windows(self, data: Samples, key, batch_size: int):
        """``(task indices (B,), window histories (B, T), resets or None)`` of one batch."""
        k_task, k_start = jax.random.split(key)
        num_tasks, length = data.history.action.shape
        num_episodes = length // self.horizon
        span = (self.context_episodes - 1) * self.episode_stride + 1
        if self.paired:
            if data.task is None:
                raise ValueError("paired windows (T2MIR's contrastive loss) need each history's task (Samples.task); "
                                 "this data carries none: make it again with icrl.data.make_ad_dataset")
            idx = jnp.repeat(sample_tasks(data, k_task, batch_size // 2), 2)
        else:
            idx = sample_tasks(data, k_task, batch_size)
        if self.window_steps:
            steps = any_step_windows(k_start, batch_size, length, self.window_steps)
            return idx, jax.tree.map(lambda x: x[idx[:, None], steps], data.history), None
        start = jax.random.randint(k_start, (batch_size,), 0, num_episodes - span + 1)
        episodes = start[:, None] + self.episode_stride * jnp.arange(self.context_episodes)  # (B, W)
        if self.window_starts == "step":
            back = jax.random.randint(jax.random.fold_in(k_start, 1), (batch_size,), 0, self.horizon)
            steps = step_windows(start, back, self.horizon, self.context_episodes * self.horizon)  # (B, W * H)
            return idx, jax.tree.map(lambda x: x[idx[:, None], steps], data.history), None

        def window(x):
            per_episode = x.reshape((num_tasks, num_episodes, self.horizon) + x.shape[2:])
            w = per_episode[idx[:, None], episodes]  # (B, W, H, ...)
            return w.reshape((batch_size, self.context_episodes * self.horizon) + x.shape[2:])

        h = jax.tree.map(window, data.history)
        resets = None  # a window never crosses tasks: no resets unless asked for at episode ends
        if self.episode_resets:
            resets = jnp.concatenate([jnp.zeros((batch_size, 1), bool), h.done[:, :-1]], axis=1)
        return idx, h, resets

    def _with_task(self, data: Samples, idx, batch: tuple) -> tuple:
        """``batch``, and each row's task where windows are paired."""
        return (*batch, data.task[idx]) if self.paired else batch


@dataclass(frozen=True)
class DICPObjective(ADObjective):
    """DICP (Son et al. 2025): AD's windows and action loss, plus at every position the reward
    class and next state the source's action led to, scored on that action's heads of the
    model's output (:func:`icrl.planning.dynamics_loss`, weighted by ``dynamics_weight``).
    ``obs_to_index`` maps observations to the ``num_states`` state indices (a grid world's cells);
    rewards are the grid worlds' 0 or 1."""

    num_states: int = 0
    obs_to_index: Any = None
    dynamics_weight: float = 1.0
    kind = "dicp"

    def __post_init__(self):
        super().__post_init__()
        if self.num_states < 1 or self.obs_to_index is None:
            raise ValueError(f"DICP needs the environment's states (num_states >= 1 and obs_to_index), got "
                             f"num_states={self.num_states!r}")
        if self.dynamics_weight < 0:
            raise ValueError(f"dynamics_weight must be >= 0, got {self.dynamics_weight!r}")

    @property
    def num_outputs(self) -> int:
        return planning.num_outputs(self.spec.num_actions, self.num_states)

    def labels(self, h):
        return planning.DynamicsLabels(h.action, (h.reward > 0.5).astype(jnp.int32), self.obs_to_index(h.next_obs))

    def criterion(self, outputs, labels) -> jax.Array:
        return planning.dynamics_loss(outputs, labels, self.spec.num_actions, self.num_states, self.dynamics_weight)


#: ICEE's token conditions: [in the current episode, no shortfall, shortfall / horizon, flag] (:func:`icee_token_conditions`)
ICEE_CONDITIONS = 4
#: Which episode of an ICEE training window is the one being acted in (:class:`ICEEObjective`).
ACTING_EPISODES = ("last", "any")


def icee_flag(returns: jax.Array, best_before: jax.Array, floor: float = 0.0, strict: bool = False) -> jax.Array:
    """ICEE's cross-episode flag (0 or 1) of episodes of ``returns`` whose earlier episodes' best
    return is ``best_before`` (``floor`` before any): above ``floor`` and at least every earlier
    episode's. ``floor`` is the return of an episode that achieved nothing, the environment's
    ``return_floor``: 0 in the grid worlds (an episode that never reached the goal earns no flag),
    −∞ in Bayesian optimisation (any first query beats an empty history). A tie counts as better,
    so an optimal episode repeated (nothing can beat it) keeps the flag on, as every step asks at
    deployment. ``strict``: a tie earns no flag, so the flag marks only a return above every
    earlier one (Bayesian optimisation: a query repeated learns nothing new, and a deployed agent
    asking for the flag must go where it has not been). Read from rewards alone, so the data
    (:func:`icrl.data.icee_conditions`) and a deployed agent relabelling its finished episodes
    (:class:`icrl.agents.model.ICEEAgent`) give it alike."""
    above = returns > best_before if strict else returns >= best_before
    return ((returns > floor) & above).astype(jnp.float32)


def unbiasing_weights(behaviour: jax.Array, num_actions: int) -> jax.Array:
    """``uniform(a) / π(a | o)`` of actions the data policy took with probability ``behaviour``:
    ICEE's weight on each action's log-likelihood, before clipping."""
    return (1.0 / num_actions) / jnp.maximum(behaviour, 1e-8)


def icee_token_conditions(conditions: jax.Array, current: jax.Array) -> jax.Array:
    """The conditions a token carries: ``conditions (..., 3)`` of the data
    (:func:`icrl.data.icee_conditions`) and ``current (...)`` whether the token lies in the episode
    being acted in. A finished episode's tokens keep only the flag: its in-episode return to go
    depends on the goal and could not be given to a deployed agent's earlier episodes."""
    current = jnp.asarray(current, jnp.float32)[..., None]
    return jnp.concatenate([current, conditions[..., :2] * current, conditions[..., 2:]], axis=-1)


@dataclass(frozen=True)
class ICEEObjective:
    """In-context exploration-exploitation (Dai et al. 2024): predict the data policy's action
    from the observation, the context and each token's conditions, over windows of
    ``context_episodes`` episodes that begin at any step of a sequence of one task's episodes
    (as a sliding context does). The tokens of the window's last episode, the one being acted
    in, carry the in-episode conditions and the flag; earlier episodes' tokens the flag alone
    (:func:`icee_token_conditions`), as a deployed agent's context holds them.

    ``unbiased``: each position's log-likelihood is weighted by ``uniform(a) / π(a | o)``
    (``π`` the data policy's probability of the recorded action, ``Samples.behaviour``), so the
    model's action prior is uniform rather than the data policy's; weights are clipped at
    ``weight_clip`` (they grow as 1/ε for a random action of a nearly greedy episode) and
    self-normalised over the batch (:func:`cross_entropy`). A spec without conditions trains
    on the bare episodes (AD on the same data).

    ``acting_share`` > 0: the positions of the window's last episode (the one being acted in,
    the only ones carrying the in-episode conditions and the only ones a deployed agent reads)
    hold that share of the batch's weight, weighted as above; a finished episode's positions
    hold the rest, each alike: plain imitation of the data policy, a task beside the deployed
    one (under the unbiasing weights their target, given the flag alone, is nearly uniform and
    would only dilute the conditions' signal). 1: the acting positions alone. The share is a
    factor that depends on a position's inputs alone (whether it lies in the acting episode):
    it leaves what the model should predict for each input as it is and only moves the
    gradient toward the positions a deployed agent reads, some 5% of a window's.

    ``acting_episode``: which of a window's episodes is the one being acted in. ``"last"``: the
    window's last, so the acting episode always has ``context_episodes - 1`` episodes before it.
    ``"any"``: one drawn uniformly among the episodes that begin inside the window, so the
    acting episode has anywhere from none to ``context_episodes - 1`` episodes before it, as a
    deployed agent's has over its first episodes (a window at the sequence's start holds the
    first episodes with nothing before them); the positions after it carry no loss (their
    context would show the acting episode's in-episode conditions, which a deployed agent's
    finished episodes never carry)."""

    spec: TokenSpec
    horizon: int
    context_episodes: int
    unbiased: bool = True
    weight_clip: float = 20.0
    acting_share: float = 0.0
    acting_episode: str = "last"
    kind = "icee"

    def __post_init__(self):
        if not self.weight_clip >= 1:
            raise ValueError(f"weight_clip must be >= 1, got {self.weight_clip!r}")
        if not 0 <= self.acting_share <= 1:
            raise ValueError(f"acting_share must be in [0, 1], got {self.acting_share!r}")
        if self.acting_episode not in ACTING_EPISODES:
            raise ValueError(f"acting_episode must be one of {ACTING_EPISODES}, got {self.acting_episode!r}")
        if self.spec.num_conditions not in (0, ICEE_CONDITIONS):
            raise ValueError(f"ICEE's tokens carry {ICEE_CONDITIONS} conditions (or none), got a spec with {self.spec.num_conditions}")

    def check(self, meta: dict) -> None:
        if self.context_episodes > meta["num_episodes"]:
            raise ValueError(f"a window of {self.context_episodes} episodes is longer than the data's sequences of "
                             f"{meta['num_episodes']} episodes")

    def weights(self, behaviour: jax.Array) -> jax.Array:
        """``min(weight_clip, (1 / num_actions) / behaviour)``: each position's weight."""
        return jnp.minimum(self.weight_clip, unbiasing_weights(behaviour, self.spec.num_actions))

    def sample_batch(self, data: Samples, key, batch_size: int):
        if self.unbiased and data.behaviour is None:
            raise ValueError("the unbiased objective needs the data policy's probabilities (Samples.behaviour)")
        if self.spec.num_conditions and data.conditions is None:
            raise ValueError("these tokens carry conditions; the data holds none (Samples.conditions)")
        k_task, k_start, k_back, k_acting = jax.random.split(key, 4)
        length = data.history.action.shape[1]
        num_episodes = length // self.horizon
        idx = sample_tasks(data, k_task, batch_size)
        start = jax.random.randint(k_start, (batch_size,), 0, num_episodes - self.context_episodes + 1)
        back = jax.random.randint(k_back, (batch_size,), 0, self.horizon)
        steps = step_windows(start, back, self.horizon, self.context_episodes * self.horizon)  # (B, W * H)
        pick = lambda x: x[idx[:, None], steps]  # noqa: E731
        h = jax.tree.map(pick, data.history._replace(regret=None, info=None))
        episode = steps // self.horizon
        if self.acting_episode == "any":  # one of the episodes that begin inside the window: start, ..., its last
            acting_episode = start + jax.random.randint(k_acting, (batch_size,), 0, self.context_episodes)
        else:
            acting_episode = episode[:, -1]
        acting = episode == acting_episode[:, None]  # the positions of the episode being acted in
        counted = episode <= acting_episode[:, None]  # positions after it carry no loss
        conditions = None
        if self.spec.num_conditions:
            conditions = icee_token_conditions(pick(data.conditions), acting)
        tokens = self.spec.tokens(h, conditions=conditions)
        if not (self.unbiased or self.acting_share or self.acting_episode == "any"):
            return tokens, None, h.action
        weights = self.weights(pick(data.behaviour)) if self.unbiased else jnp.ones(h.action.shape, jnp.float32)
        weights = jnp.where(counted, weights, 0.0)
        if self.acting_share:
            weights = jnp.where(acting, weights, 0.0)
            finished = (counted & ~acting).astype(jnp.float32)
            weights = (self.acting_share * weights / jnp.maximum(jnp.sum(weights), 1e-8)
                       + (1 - self.acting_share) * finished / jnp.maximum(jnp.sum(finished), 1.0))
        return tokens, None, Weighted(h.action, weights)


@dataclass(frozen=True)
class RADTObjective:
    """Retrieval-augmented decision transformer (RA-DT, Schmied et al. 2024) on learning histories:
    predict the source's action at every position of a window of ``context_episodes`` episodes
    that begins at any step (or of ``window_steps`` steps, beginning at every step it fits after
    alike), behind ``memory.prefix_len`` tokens of chunks retrieved from the same
    history *before* the window (:meth:`icrl.retrieval.ChunkMemory.prefix`): no later step and no
    other task can be retrieved. The retrieved tokens end with a feature 1 (the window's with 0)
    and carry no loss (weight 0); the window's positions weigh 1 each."""

    spec: TokenSpec  # with one condition feature: the retrieved flag
    horizon: int
    context_episodes: int
    memory: Any
    window_steps: int = 0  # > 0: a window of that many steps (a part of an episode) in place of whole episodes
    kind = "radt"

    def __post_init__(self):
        if self.spec.num_conditions != 1:
            raise ValueError(f"RA-DT's tokens carry one condition feature (retrieved or not), got a spec with {self.spec.num_conditions}")
        if self.window_steps < 0:
            raise ValueError(f"window_steps must be >= 0 (0: context_episodes whole episodes), got {self.window_steps}")

    @property
    def window(self) -> int:
        return self.window_steps or self.context_episodes * self.horizon

    @property
    def sequence_length(self) -> int:
        return self.memory.prefix_len + self.window

    def check(self, meta: dict) -> None:
        if self.window > meta["num_episodes"] * self.horizon:
            raise ValueError(f"a window of {self.window} steps is longer than the histories of {meta['num_episodes']} episodes "
                             f"of {self.horizon} steps")

    def sample_batch(self, data: Samples, key, batch_size: int):
        k_task, k_start, k_back, k_retrieve = jax.random.split(key, 4)
        length = data.history.action.shape[1]
        idx = sample_tasks(data, k_task, batch_size)
        if self.window_steps:
            steps = any_step_windows(k_start, batch_size, length, self.window)
        else:
            start = jax.random.randint(k_start, (batch_size,), 0, length // self.horizon - self.context_episodes + 1)
            back = jax.random.randint(k_back, (batch_size,), 0, self.horizon)
            steps = step_windows(start, back, self.horizon, self.window)  # (B, W)
        history = jax.tree.map(lambda x: x[idx], data.history._replace(regret=None, info=None))
        tokens = dataclasses.replace(self.spec, num_conditions=0).tokens(history)  # (B, L, D - 1): the whole history
        sequence = lambda t, r, first, k: self.memory.sequence(t, r, first, self.window, k)  # noqa: E731
        inputs = jax.vmap(sequence)(tokens, history.reward, steps[:, 0], jax.random.split(k_retrieve, batch_size))
        actions = jnp.take_along_axis(history.action, steps, axis=1)
        none = jnp.zeros((batch_size, self.memory.prefix_len))
        labels = Weighted(jnp.concatenate([none.astype(actions.dtype), actions], 1), jnp.concatenate([none, jnp.ones(actions.shape)], 1))
        return inputs, None, labels
