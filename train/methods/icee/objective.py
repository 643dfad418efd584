"""ICEE's objective: its token conditions, its cross-episode flag and its unbiasing weights."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from icrl.models.tokens import TokenSpec
from icrl.objectives import Weighted, sample_tasks, step_windows
from icrl.types import Samples

#: ICEE's token conditions: [in the current episode, no shortfall, shortfall / horizon, flag] (:func:`icee_token_conditions`)
ICEE_CONDITIONS = 4

#: Which episode of an ICEE training window is the one being acted in (:class:`ICEEObjective`).
ACTING_EPISODES = ("last", "any")

def check_weighting(weight_clip: float, acting_share: float, acting_episode: str) -> None:
    """Raise ``ValueError`` for weights :class:`ICEEObjective` cannot use (its settings' checks, shared with the method's)."""
    if not weight_clip >= 1:
        raise ValueError(f"weight_clip must be >= 1, got {weight_clip!r}")
    if not 0 <= acting_share <= 1:
        raise ValueError(f"acting_share must be in [0, 1], got {acting_share!r}")
    if acting_episode not in ACTING_EPISODES:
        raise ValueError(f"acting_episode must be one of {ACTING_EPISODES}, got {acting_episode!r}")


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
    (:func:`train.methods.icee.data.icee_conditions`) and a deployed agent relabelling its finished episodes
    (:class:`train.methods.icee.agent.ICEEAgent`) give it alike."""
    above = returns > best_before if strict else returns >= best_before
    return ((returns > floor) & above).astype(jnp.float32)

def unbiasing_weights(behaviour: jax.Array, num_actions: int) -> jax.Array:
    """``uniform(a) / π(a | o)`` of actions the data policy took with probability ``behaviour``:
    ICEE's weight on each action's log-likelihood, before clipping."""
    return (1.0 / num_actions) / jnp.maximum(behaviour, 1e-8)

def icee_token_conditions(conditions: jax.Array, current: jax.Array) -> jax.Array:
    """The conditions a token carries: ``conditions (..., 3)`` of the data
    (:func:`train.methods.icee.data.icee_conditions`) and ``current (...)`` whether the token lies in the episode
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
    (``π`` the data policy's probability of the recorded action, ``Samples.extras['behaviour']``), so the
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
        check_weighting(self.weight_clip, self.acting_share, self.acting_episode)
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
        extras = data.extras or {}
        if self.unbiased and "behaviour" not in extras:
            raise ValueError("the unbiased objective needs the data policy's probabilities (Samples.extras['behaviour'])")
        if self.spec.num_conditions and "conditions" not in extras:
            raise ValueError("these tokens carry conditions; the data holds none (Samples.extras['conditions'])")
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
            conditions = icee_token_conditions(pick(extras["conditions"]), acting)
        tokens = self.spec.tokens(h, conditions=conditions)
        if not (self.unbiased or self.acting_share or self.acting_episode == "any"):
            return tokens, None, h.action
        weights = self.weights(pick(extras["behaviour"])) if self.unbiased else jnp.ones(h.action.shape, jnp.float32)
        weights = jnp.where(counted, weights, 0.0)
        if self.acting_share:
            weights = jnp.where(acting, weights, 0.0)
            finished = (counted & ~acting).astype(jnp.float32)
            weights = (self.acting_share * weights / jnp.maximum(jnp.sum(weights), 1e-8)
                       + (1 - self.acting_share) * finished / jnp.maximum(jnp.sum(finished), 1.0))
        return tokens, None, Weighted(h.action, weights)
