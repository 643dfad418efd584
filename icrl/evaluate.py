"""In-context evaluation on held-out tasks: every method, the same tasks, the same keys (results in :mod:`icrl.results`' format)."""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import is_bandit, signature
from icrl.agents import make_agent
from icrl.agents.bandit import ArmStats
from icrl.agents.linear import RidgeState
from icrl.metrics import mean_ci95
from icrl.results import SCHEMA
from icrl.rollout import cumulative_regret, episode_returns, rollout, simple_regret


def evaluate_online(env, agents: dict[str, Any], tasks, key: jax.Array, num_steps: int, seed: int = 0, split: str = "test",
                    report: Callable[[str, float], None] | None = None) -> dict:
    """Roll out every agent on ``tasks`` with the same ``key``; summarise as the results schema.

    ``agents`` maps a method name to an agent, or to an agent name for :func:`make_agent`;
    ``report(name, seconds)``, if given, is called as each agent's rollout ends.
    """
    num_tasks = int(jax.tree.leaves(tasks)[0].shape[0])
    bandit = is_bandit(env)
    if not bandit and num_steps % env.horizon:
        raise ValueError(f"grid-world evaluation needs whole episodes: {num_steps} steps, horizon {env.horizon}")
    known = not bandit and getattr(env, "knows_optimal_return", True)  # else returns alone (a projected Acrobot)
    per_task_optimal = np.asarray(jax.vmap(env.optimal_return)(tasks), np.float64) if known else None  # (num_tasks,)
    optimal = float(np.mean(per_task_optimal)) if known else None
    methods = {}
    for name, agent in agents.items():
        if isinstance(agent, str):
            agent = make_agent(agent, env)
        t0 = time.perf_counter()
        h = jax.block_until_ready(rollout(env, agent, tasks, key, num_steps))
        if report is not None:
            report(name, time.perf_counter() - t0)
        if bandit:
            mean, ci = mean_ci95(cumulative_regret(h))
            simple, simple_ci = mean_ci95(simple_regret(h))
            methods[name] = {"cumulative_regret": mean.tolist(), "cumulative_regret_ci95": ci.tolist(),
                             "simple_regret": simple.tolist(), "simple_regret_ci95": simple_ci.tolist()}
        else:
            returns = np.asarray(episode_returns(h, env.horizon), np.float64)  # (num_tasks, episodes)
            mean, ci = mean_ci95(returns)
            methods[name] = {"episode_return": np.asarray(mean).tolist(), "episode_return_ci95": np.asarray(ci).tolist()}
            if not known:
                continue
            # a task whose optimal return is 0 (a goal out of reach in the horizon) counts as met
            reachable = per_task_optimal[:, None] > 0
            fraction, fraction_ci = mean_ci95(np.where(reachable, returns / np.where(reachable, per_task_optimal[:, None], 1.0), 1.0))
            methods[name].update({"optimal_return": optimal, "episode_fraction": np.asarray(fraction).tolist(),
                                  "episode_fraction_ci95": np.asarray(fraction_ci).tolist()})
    out = {
        "schema": SCHEMA, "env": signature(env), "split": split, "num_tasks": num_tasks,
        "num_steps": num_steps, "seed": seed, "checkpoint": None, "methods": methods,
    }
    if optimal is not None:
        out["optimal_return"] = optimal
    return out


def offline_bandit(env, model, spec, params, tasks, key: jax.Array, context_len: int, collector: str = "dirichlet", lcb_c: float = 1.0) -> dict:
    """Offline DPT (Lee et al. 2023): from a fixed context of ``context_len`` pulls of a
    data-collection agent, choose one arm greedily; report the suboptimality
    ``max mean − mean[choice]`` of the model, the empirical-mean choice and the LCB
    choice on the same data (the model queried after the whole context). On a linear
    bandit also the choices that use the arm features: ``ridge-greedy`` (the best arm
    under the ridge estimate) and ``linear-lcb`` (ridge estimate minus ``lcb_c`` times
    the arm's confidence width).
    """
    if not is_bandit(env):
        raise ValueError(f"offline evaluation is defined for bandits; {env.name!r} is not one")
    h = rollout(env, make_agent(collector, env), tasks, key, context_len)
    queries = jnp.concatenate([h.obs, h.obs[:, -1:]], axis=1)  # one more query, after the last pull
    logits = jax.jit(model.apply)(params, spec.tokens(h, queries))[:, -1]
    stats = ArmStats.of(h.action, h.reward, spec.num_actions)
    counts, means = stats.counts, stats.means
    choices = {
        "model": jnp.argmax(logits, -1),
        "empirical-mean": jnp.argmax(jnp.where(counts > 0, means, -jnp.inf), -1),
        "lcb": jnp.argmax(jnp.where(counts > 0, means - lcb_c / jnp.sqrt(jnp.maximum(counts, 1)), -jnp.inf), -1),
    }
    features = getattr(tasks, "features", None)
    if features is not None:  # a linear bandit: the baselines that know the arms' features
        def ridge_choices(features, action, reward):
            ridge = RidgeState.of(features, action, reward)
            value = features @ ridge.theta
            return jnp.argmax(value), jnp.argmax(value - lcb_c * ridge.widths)

        choices["ridge-greedy"], choices["linear-lcb"] = jax.vmap(ridge_choices)(features, h.action, h.reward)
    expected = jax.vmap(env.expected_rewards)(tasks)
    best = expected.max(-1)
    out = {}
    for name, choice in choices.items():
        gap = best - jnp.take_along_axis(expected, choice[:, None], 1)[:, 0]
        mean, ci = mean_ci95(gap)
        out[name] = {"suboptimality": float(mean), "suboptimality_ci95": float(ci)}
    return out
