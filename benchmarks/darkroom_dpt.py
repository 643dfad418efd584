"""Why darkroom-dpt labels its queries with posterior samples: the ceilings of DPT's label per deployment.

    python benchmarks/darkroom_dpt.py [--size 7 --horizon 49 --episodes 6 --copies 20]

A DPT trained with the paper's label (the true goal's optimal action) converges, with
unlimited data and capacity, to the exact posterior's action distribution
P(a optimal | context): ``posterior`` when its context grows every step,
``posterior-episode`` when the context is frozen during an episode (the paper's
deployment on MDPs). Both draw a fresh hypothesis at every step, so they dither;
PSRL draws one goal per episode (redrawn when ruled out) and commits to it. Printed:
the fraction of optimal return per episode of each, on the training-split goals
(where settings are chosen) and the held-out ones, every goal run with ``--copies`` keys.
No model is trained here; the trained models' figures are in docs/RESULTS.md
(darkroom-dpt: labels drawn as PSRL draws them; darkroom-dpt-paper: the paper's label).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
from icrl import episode_returns, make_agent, rollout  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=7)
    parser.add_argument("--horizon", type=int, default=49)
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    env, _ = envs.make("darkroom", size=args.size, horizon=args.horizon)
    print(f"darkroom {args.size}x{args.size}, {args.horizon}-step episodes: fraction of optimal return per episode")
    for split in ("train", "test"):
        tasks = jax.tree.map(lambda x: jnp.concatenate([x] * args.copies), env.task_pool(split))
        optimal = float(jax.vmap(env.optimal_return)(tasks).mean())
        print(f"\n{split} split: {env.num_tasks_in(split)} goals x {args.copies} keys, optimal return {optimal:.2f}")
        for name in ("posterior", "posterior-episode", "psrl", "random"):
            h = rollout(env, make_agent(name, env), tasks, jax.random.PRNGKey(1), num_episodes=args.episodes)
            returns = np.asarray(episode_returns(h, env.horizon)).mean(0) / optimal
            print(f"  {name:<20}" + " ".join(f"{r:5.2f}" for r in returns))


if __name__ == "__main__":
    main()
