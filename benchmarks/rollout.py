"""Rollout throughput: agent-environment steps per second, JAX vs NumPy (a loop per task, and vectorised over tasks).

    python benchmarks/rollout.py [--tasks 10000] [--numpy-tasks 20]

All sides do the same work per step (Thompson sampling on a 5-arm Bernoulli
bandit, horizon 500; tabular Q-learning on 10x10 Dark Room, horizon 100). The
NumPy loop runs ``--numpy-tasks`` tasks one after another (its rate does not
depend on the number of tasks); the vectorised NumPy version runs all
``--tasks`` at once, a Python loop over time steps only. Ratios are measured in
one run, side by side.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import envs
from icrl import make_agent, rollout


def time_jax(env, agent, tasks, num_steps, repeats=3) -> float:
    """Best wall-clock seconds of a compiled rollout (compilation excluded)."""
    rollout(env, agent, tasks, jax.random.PRNGKey(0), num_steps).reward.block_until_ready()
    best = np.inf
    for i in range(repeats):
        t0 = time.perf_counter()
        rollout(env, agent, tasks, jax.random.PRNGKey(i + 1), num_steps).reward.block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_thompson(means: np.ndarray, horizon: int, rng: np.random.Generator) -> float:
    """One task: Beta-Bernoulli Thompson sampling; returns the cumulative regret."""
    k = means.shape[0]
    successes, failures = np.zeros(k), np.zeros(k)
    regret = 0.0
    for _ in range(horizon):
        arm = int(np.argmax(rng.beta(1.0 + successes, 1.0 + failures)))
        reward = rng.random() < means[arm]
        successes[arm] += reward
        failures[arm] += 1 - reward
        regret += means.max() - means[arm]
    return regret


def numpy_q_learning(goal, size, horizon, episodes, rng, lr=0.5, gamma=0.9, eps=0.05) -> float:
    """One task: ε-greedy optimistic Q-learning in Dark Room; returns the total reward."""
    moves = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]])
    q = np.full((size * size, 5), 1.0 / (1.0 - gamma))
    total = 0.0
    for _ in range(episodes):
        pos = np.array([size // 2, size // 2])
        for _ in range(horizon):
            s = pos[0] * size + pos[1]
            if rng.random() < eps:
                a = int(rng.integers(5))
            else:
                best = np.flatnonzero(q[s] == q[s].max())
                a = int(rng.choice(best))
            pos = np.clip(pos + moves[a], 0, size - 1)
            r = float(pos[0] == goal[0] and pos[1] == goal[1])
            s2 = pos[0] * size + pos[1]
            q[s, a] += lr * (r + gamma * q[s2].max() - q[s, a])
            total += r
    return total


def numpy_thompson_vectorised(means: np.ndarray, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """All tasks at once (``means: (n, k)``): Thompson sampling; returns each task's cumulative regret."""
    n, k = means.shape
    successes, failures = np.zeros((n, k)), np.zeros((n, k))
    regret, rows, best = np.zeros(n), np.arange(n), means.max(1)
    for _ in range(horizon):
        arm = np.argmax(rng.beta(1.0 + successes, 1.0 + failures), axis=1)
        reward = rng.random(n) < means[rows, arm]
        successes[rows, arm] += reward
        failures[rows, arm] += 1 - reward
        regret += best - means[rows, arm]
    return regret


def numpy_q_learning_vectorised(goals, size, horizon, episodes, rng, lr=0.5, gamma=0.9, eps=0.05) -> np.ndarray:
    """All tasks at once (``goals: (n, 2)``): ε-greedy optimistic Q-learning with random tie-breaks."""
    moves = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]])
    n = goals.shape[0]
    rows = np.arange(n)
    q = np.full((n, size * size, 5), 1.0 / (1.0 - gamma))
    total = np.zeros(n)
    for _ in range(episodes):
        pos = np.tile([size // 2, size // 2], (n, 1))
        for _ in range(horizon):
            s = pos[:, 0] * size + pos[:, 1]
            values = q[rows, s]
            ties = values == values.max(1, keepdims=True)
            greedy = np.argmax(ties * rng.random((n, 5)), axis=1)  # a uniformly random best action
            a = np.where(rng.random(n) < eps, rng.integers(5, size=n), greedy)
            pos = np.clip(pos + moves[a], 0, size - 1)
            r = np.all(pos == goals, axis=1).astype(float)
            s2 = pos[:, 0] * size + pos[:, 1]
            q[rows, s, a] += lr * (r + gamma * q[rows, s2].max(1) - q[rows, s, a])
            total += r
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--numpy-tasks", type=int, default=20)
    parser.add_argument("--darkroom-episodes", type=int, default=5)
    args = parser.parse_args()
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind}), {args.tasks} tasks")
    rng = np.random.default_rng(0)

    env, _ = envs.make("bernoulli-bandit", num_arms=5, horizon=500)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), args.tasks, "train")
    rows = []
    for name in ["thompson", "ucb"]:
        seconds = time_jax(env, make_agent(name, env), tasks, env.horizon)
        rows.append((f"bandit {name} (jax)", args.tasks * env.horizon / seconds))
    means = np.asarray(tasks.means[: args.numpy_tasks])
    t0 = time.perf_counter()
    for m in means:
        numpy_thompson(m, env.horizon, rng)
    rows.append(("bandit thompson (numpy loop)", args.numpy_tasks * env.horizon / (time.perf_counter() - t0)))
    t0 = time.perf_counter()
    numpy_thompson_vectorised(np.asarray(tasks.means), env.horizon, rng)
    rows.append(("bandit thompson (numpy vectorised)", args.tasks * env.horizon / (time.perf_counter() - t0)))

    room, _ = envs.make("darkroom")
    tasks = room.sample_tasks(jax.random.PRNGKey(0), args.tasks, "train")
    num_steps = args.darkroom_episodes * room.horizon
    seconds = time_jax(room, make_agent("q-learning", room), tasks, num_steps)
    rows.append(("darkroom q-learning (jax)", args.tasks * num_steps / seconds))
    goals = np.asarray(tasks.goal[: args.numpy_tasks])
    t0 = time.perf_counter()
    for g in goals:
        numpy_q_learning(g, room.size, room.horizon, args.darkroom_episodes, rng)
    rows.append(("darkroom q-learning (numpy loop)", args.numpy_tasks * num_steps / (time.perf_counter() - t0)))
    t0 = time.perf_counter()
    numpy_q_learning_vectorised(np.asarray(tasks.goal), room.size, room.horizon, args.darkroom_episodes, rng)
    rows.append(("darkroom q-learning (numpy vectorised)", args.tasks * num_steps / (time.perf_counter() - t0)))

    rates = dict(rows)
    for name, rate in rows:
        print(f"{name:<42}{rate:>14,.0f} steps/s")
    for algo, prefix in (("thompson", "bandit thompson"), ("q-learning", "darkroom q-learning")):
        for numpy_kind in ("numpy loop", "numpy vectorised"):
            ratio = rates[f"{prefix} (jax)"] / rates[f"{prefix} ({numpy_kind})"]
            print(f"ratio {algo} jax / {numpy_kind}:".ljust(44) + f"{ratio:8.1f}x")


if __name__ == "__main__":
    main()
