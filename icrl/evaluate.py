"""In-context evaluation on held-out tasks: every method, the same tasks, the same keys.

``results.json`` schema (``icrl-results/1``)::

    {
      "schema": "icrl-results/1",
      "env": {"name", "kwargs", "num_actions", "obs_shape", "horizon"},
      "split": "test", "num_tasks": int, "num_steps": int, "seed": int,
      "checkpoint": str | null,
      "methods": {
        NAME: {                                # bandits
          "cumulative_regret": [float] * num_steps,       # mean over tasks, per step
          "cumulative_regret_ci95": [float] * num_steps}  # 95% CI half-width
        NAME: {                                # grid worlds
          "episode_return": [float] * num_episodes,       # mean over tasks, per episode
          "episode_return_ci95": [float] * num_episodes,
          "optimal_return": float}             # mean optimal return of the tasks
      },
      "optimal_return": float,                 # grid worlds
      "offline": {NAME: {"suboptimality": float, "suboptimality_ci95": float}}  # bandits, optional
    }

plus whatever the caller adds (experiment name, config, timings).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from icrl.agents import make_agent
from icrl.data import env_signature
from icrl.metrics import mean_ci95
from icrl.rollout import cumulative_regret, episode_returns, rollout

SCHEMA = "icrl-results/1"


def evaluate_online(env, agents: dict[str, Any], tasks, key: jax.Array, num_steps: int, seed: int = 0, split: str = "test") -> dict:
    """Roll out every agent on ``tasks`` with the same ``key``; summarise as the results schema.

    ``agents`` maps a method name to an agent, or to an agent name for :func:`make_agent`.
    """
    num_tasks = int(jax.tree.leaves(tasks)[0].shape[0])
    bandit = hasattr(env, "expected_rewards")
    if not bandit and num_steps % env.horizon:
        raise ValueError(f"grid-world evaluation needs whole episodes: {num_steps} steps, horizon {env.horizon}")
    optimal = None if bandit else float(np.mean(jax.vmap(env.optimal_return)(tasks)))
    methods = {}
    for name, agent in agents.items():
        if isinstance(agent, str):
            agent = make_agent(agent, env)
        h = rollout(env, agent, tasks, key, num_steps)
        if bandit:
            mean, ci = mean_ci95(cumulative_regret(h))
            methods[name] = {"cumulative_regret": mean.tolist(), "cumulative_regret_ci95": ci.tolist()}
        else:
            mean, ci = mean_ci95(episode_returns(h, env.horizon))
            methods[name] = {"episode_return": mean.tolist(), "episode_return_ci95": ci.tolist(), "optimal_return": optimal}
    out = {
        "schema": SCHEMA, "env": env_signature(env), "split": split, "num_tasks": num_tasks,
        "num_steps": num_steps, "seed": seed, "checkpoint": None, "methods": methods,
    }
    if optimal is not None:
        out["optimal_return"] = optimal
    return out


def offline_bandit(env, model, spec, params, tasks, key: jax.Array, context_len: int, collector: str = "dirichlet", lcb_c: float = 1.0) -> dict:
    """Offline DPT (Lee et al. 2023): from a fixed context of a data-collection agent,
    choose one arm greedily; report the suboptimality ``max mean − mean[choice]``
    of the model, the empirical-mean choice and the LCB choice on the same data.

    The model's last output has seen ``context_len − 1`` transitions; the
    baselines get exactly those.
    """
    if not hasattr(env, "expected_rewards"):
        raise ValueError(f"offline evaluation is defined for bandits; {env.name!r} is not one")
    h = rollout(env, make_agent(collector, env), tasks, key, context_len)
    tokens = spec.sequence(h.obs, h.obs, h.action, h.reward, h.next_obs, h.done)
    logits = jax.jit(model.apply)(params, tokens)[:, -1]
    seen = slice(0, context_len - 1)
    counts = jax.nn.one_hot(h.action[:, seen], spec.num_actions).sum(1)
    sums = (jax.nn.one_hot(h.action[:, seen], spec.num_actions) * h.reward[:, seen, None]).sum(1)
    means = sums / jnp.maximum(counts, 1)
    choices = {
        "model": jnp.argmax(logits, -1),
        "empirical-mean": jnp.argmax(jnp.where(counts > 0, means, -jnp.inf), -1),
        "lcb": jnp.argmax(jnp.where(counts > 0, means - lcb_c / jnp.sqrt(jnp.maximum(counts, 1)), -jnp.inf), -1),
    }
    expected = jax.vmap(env.expected_rewards)(tasks)
    best = expected.max(-1)
    out = {}
    for name, choice in choices.items():
        gap = best - jnp.take_along_axis(expected, choice[:, None], 1)[:, 0]
        mean, ci = mean_ci95(gap)
        out[name] = {"suboptimality": float(mean), "suboptimality_ci95": float(ci)}
    return out
