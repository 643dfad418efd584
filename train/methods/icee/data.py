"""ICEE's data (Dai et al. 2024): episodes of the ε-greedy oracle, each step with its in-episode
conditions and cross-episode flag, and the data policy's probability of every recorded action."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from icrl.agents import make_agent
from icrl.data import Dataset, as_dataset, dataset_meta
from icrl.rollout import rollout
from icrl.types import task_vectors
from train.methods.icee.objective import icee_flag, unbiasing_weights


def icee_conditions(reward, horizon: int, best_to_go, floor: float = 0.0, tolerance: float = 0.5, best_steps=None,
                    strict: bool = False) -> jax.Array:
    """ICEE's per-step conditions of sequences of whole episodes: ``reward (..., E * horizon)`` and
    ``best_to_go (..., E * horizon)`` -> ``(..., E * horizon, 3)``: [no shortfall (1 or 0),
    shortfall / horizon, cross-episode flag].

    The in-episode return to go at step ``t`` sums the episode's rewards from ``t`` on (step
    ``t``'s own included); the condition is how far it falls short of the best the step's state
    allows (``best_to_go``): 0 when the rest of the episode is as good as it can be, also given
    as its own 0/1 feature (whether the step's action lies on a best path: a shortfall below
    ``tolerance``, the environment's ``return_tolerance``, 0.5 for the grid worlds' whole rewards).
    A deployed model asks for 0, a value its data hold at every state; a raw return to go would
    need a target that depends on the goal it does not know.

    With ``best_steps (..., E * horizon)`` (the fewest steps that collect the best return from each
    step's state), "no shortfall" also asks that the episode collect its last reward after step ``t``
    within that many steps: a detour that still ends with the best return (Key-to-Door's two
    rewards, each paid once, with time to spare) falls short in time. Where reward comes every step
    to the end (Dark Room's goal) a best return already takes every step left, so nothing changes.

    The flag of episode ``k`` (:func:`train.methods.icee.objective.icee_flag`) compares its return with every
    earlier episode's, the first with an empty episode (return ``floor``, the environment's
    ``return_floor``); ``strict``: a tie earns none."""
    reward = jnp.asarray(reward, jnp.float32)
    per_episode = reward.reshape(reward.shape[:-1] + (-1, horizon))  # (..., E, H)
    to_go = jnp.flip(jnp.cumsum(jnp.flip(per_episode, -1), -1), -1).reshape(reward.shape)
    returns = per_episode.sum(-1)  # (..., E)
    best_before = jax.lax.cummax(returns, axis=returns.ndim - 1)
    best_before = jnp.concatenate([jnp.full_like(returns[..., :1], floor), best_before[..., :-1]], -1)  # an empty episode first
    flag = jnp.broadcast_to(icee_flag(returns, best_before, floor, strict)[..., None], per_episode.shape).reshape(reward.shape)
    shortfall = jnp.asarray(best_to_go, jnp.float32) - to_go
    best = shortfall < tolerance
    if best_steps is not None:
        t = jnp.arange(horizon)
        last = jnp.max(jnp.where(per_episode != 0, t, -1), axis=-1, keepdims=True)  # (..., E, 1) the last paid step, -1: none
        used = jnp.maximum(last - t + 1, 0).reshape(reward.shape)  # steps from t to the last reward, t's own included
        best &= used <= jnp.asarray(best_steps)
    return jnp.stack([best.astype(jnp.float32), shortfall / horizon, flag], -1)

def return_scale(env) -> tuple[float, float]:
    """``(floor, tolerance)`` of ``env``'s returns for ICEE's conditions: the return of an episode that
    achieved nothing and the shortfall below which a return counts as the best (0 and 0.5, the grid
    worlds' whole rewards, unless the environment says otherwise)."""
    return float(getattr(env, "return_floor", 0.0)), float(getattr(env, "return_tolerance", 0.5))

def make_icee_dataset(env, key: jax.Array, num_tasks: int, num_episodes: int, split: str = "train", max_epsilon: float = 1.0,
                      skew: float = 1.0, sort_by_epsilon: bool = False, min_epsilon: float = 0.0,
                      time_shortfall: bool = False, strict_flag: bool = False) -> Dataset:
    """ICEE data (Dai et al. 2024): ``num_episodes`` episodes of the ε-greedy oracle on each task
    (:class:`icrl.agents.epsilon.EpsilonOracleAgent`, ε drawn per episode from ``[min_epsilon, max_epsilon]``,
    random actions leaning by ``skew``), not learning histories. Arrays ``(N, num_episodes * horizon)``.
    ``time_shortfall``: "no shortfall" also asks for the best return in the fewest steps; ``strict_flag``: a tie
    with the best earlier episode earns no flag (:func:`icee_conditions`).

    Extras: ``conditions`` (:func:`icee_conditions`), ``behaviour`` (the probability of each
    recorded action under the data policy), ``epsilon (N, num_episodes)``, ``optimal_return``
    and ``task``. ``sort_by_epsilon``: each task's episodes in order of decreasing ε (the
    paper's AD-sorted baseline: a history that seems to improve). ``meta['weights']``: the
    spread of the unbiasing weights ``uniform(a) / π(a | o)``."""
    if not hasattr(env, "horizon"):
        raise ValueError(f"ICEE needs an environment with fixed-length episodes, got {env.name!r}")
    agent = make_agent("epsilon-oracle", env, max_epsilon=max_epsilon, min_epsilon=min_epsilon, skew=skew)
    k_tasks, k_roll = jax.random.split(key)
    tasks = env.sample_tasks(k_tasks, num_tasks, split)
    history = rollout(env, agent, tasks, k_roll, num_episodes=num_episodes)
    behaviour, epsilon, best_to_go, best_steps = history.info
    history = history._replace(info=None)
    epsilon = epsilon.reshape(num_tasks, num_episodes, env.horizon)[:, :, 0]
    if sort_by_epsilon:
        order = jnp.argsort(-epsilon, axis=1)

        def sort(x):
            per = x.reshape((num_tasks, num_episodes, env.horizon) + x.shape[2:])
            per = jnp.take_along_axis(per, order.reshape(order.shape + (1,) * (per.ndim - 2)), axis=1)
            return per.reshape(x.shape)

        history, behaviour, best_to_go, best_steps = jax.tree.map(sort, history), sort(behaviour), sort(best_to_go), sort(best_steps)
        epsilon = jnp.take_along_axis(epsilon, order, axis=1)
    optimal = jax.vmap(env.optimal_return)(tasks)
    conditions = icee_conditions(history.reward, env.horizon, best_to_go, *return_scale(env),
                                 best_steps=best_steps if time_shortfall else None, strict=strict_flag)
    weights = np.asarray(unbiasing_weights(behaviour, env.num_actions)).ravel()
    source_args = ({"max_epsilon": max_epsilon, "skew": skew} | ({"min_epsilon": min_epsilon} if min_epsilon else {})
                   | ({"time_shortfall": True} if time_shortfall else {}) | ({"strict_flag": True} if strict_flag else {}))
    meta = dataset_meta("icee", env, split, "epsilon-oracle", source_args, key, num_tasks=num_tasks,
                 num_episodes=num_episodes, horizon=env.horizon, sorted_by_epsilon=sort_by_epsilon,
                        sample_extras=("conditions", "behaviour"))
    meta["weights"] = {f"p{q}": float(np.percentile(weights, q)) for q in (50, 90, 99)} | {"max": float(weights.max())}
    return as_dataset(history, meta, optimal_return=optimal, task=task_vectors(tasks, num_tasks), conditions=conditions,
                       behaviour=behaviour, epsilon=epsilon)
