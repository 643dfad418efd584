"""Classic algorithms on held-out tasks: the reference every in-context model is measured against."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np

import envs
from envs.base import check_positive_int
from icrl import cumulative_regret, episode_returns, make_agent, rollout
from icrl.metrics import mean_ci95
from icrl.training import described


@dataclass(frozen=True)
class BaselinesConfig:
    seed: int = described(0, "key of the tasks and rollouts")
    num_tasks: int = described(1000, "bandit tasks per environment")
    bandit_arms: int = described(5, "arms of the multi-armed bandits")
    bandit_horizon: int = described(500, "pulls per multi-armed bandit task")
    linear_horizon: int = described(200, "pulls per linear bandit task")
    grid_tasks: int = described(200, "grid-world rollouts (over the held-out goals)")
    darkroom_episodes: int = described(50, "Dark Room episodes per rollout")
    keydoor_episodes: int = described(300, "Key-to-Door episodes per rollout")

    def __post_init__(self):
        check_positive_int("seed", self.seed, minimum=0)
        for name in ("num_tasks", "bandit_arms", "bandit_horizon", "linear_horizon", "grid_tasks", "darkroom_episodes",
                     "keydoor_episodes"):
            check_positive_int(name, getattr(self, name))


def _row(name: str, value: str) -> str:
    return f"  {name:<16}{value}"


def run(cfg: BaselinesConfig) -> dict:
    """Roll out every classic agent on the test split of each environment; print a table."""
    key = jax.random.PRNGKey(cfg.seed)
    results: dict = {}
    bandits = [
        ("bernoulli-bandit", dict(num_arms=cfg.bandit_arms, horizon=cfg.bandit_horizon), ["random", "epsilon-greedy", "ucb", "thompson", "oracle"]),
        ("linear-bandit", dict(horizon=cfg.linear_horizon), ["random", "linucb", "lin-thompson", "oracle"]),
    ]
    for env_name, kw, agents in bandits:
        env, _ = envs.make(env_name, **kw)
        tasks = env.sample_tasks(jax.random.fold_in(key, 1), cfg.num_tasks, "test")
        print(f"\n{env_name} {kw}: cumulative regret at step {env.horizon} on {cfg.num_tasks} held-out tasks (mean ± 95% CI)")
        for agent_name in agents:
            t0 = time.perf_counter()
            h = rollout(env, make_agent(agent_name, env), tasks, jax.random.fold_in(key, 2), num_episodes=1)
            mean, ci = mean_ci95(cumulative_regret(h)[:, -1])
            results[(env_name, agent_name)] = float(mean)
            print(_row(agent_name, f"{mean:8.2f} ± {ci:5.2f}   ({time.perf_counter() - t0:.1f}s)"))
    grids = [("darkroom", cfg.darkroom_episodes), ("keydoor", cfg.keydoor_episodes)]
    for env_name, episodes in grids:
        env, _ = envs.make(env_name)
        tasks = env.sample_tasks(jax.random.fold_in(key, 3), cfg.grid_tasks, "test")
        optimal = float(np.mean(jax.vmap(env.optimal_return)(tasks)))
        print(f"\n{env_name}: return per episode on held-out tasks, {episodes} episodes (optimal {optimal:.2f})")
        print(_row("", "first episode     last episode"))
        for agent_name in ["random", "q-learning", "oracle"]:
            h = rollout(env, make_agent(agent_name, env), tasks, jax.random.fold_in(key, 4), num_episodes=episodes)
            ret = np.asarray(episode_returns(h, env.horizon))
            (first, first_ci), (last, last_ci) = mean_ci95(ret[:, 0]), mean_ci95(ret[:, -1])
            results[(env_name, agent_name)] = float(last)
            print(_row(agent_name, f"{first:6.2f} ± {first_ci:4.2f}     {last:6.2f} ± {last_ci:4.2f}"))
    return results
