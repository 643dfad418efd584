"""Seconds of a preset's deployed model in context: its evaluation rollout, timed on this code.

    python benchmarks/deployed_rollout.py [--presets bandit-dpt darkroom9-ad darkroom9-dpt] [--tasks 1000] [--rounds 3]

Each preset's model (freshly initialised: a rollout's cost does not depend on the weights) acts
as its evaluation deploys it, for the preset's evaluation length, on ``--tasks`` held-out tasks
(a grid world's pool repeated to that many), jitted once and then timed ``--rounds`` times (best
kept). Prints seconds and environment steps per second. To compare two versions of the code,
run it in a checkout of each, one after the other in turns (XLA reads its flags, and a process
its code, once).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.rollout import rollout  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import build, evaluation_tasks  # noqa: E402


def deployed_seconds(preset: str, tasks: int, rounds: int) -> tuple[float, int]:
    """Best seconds of ``rounds`` rollouts of ``preset``'s deployed model, and the environment steps each takes."""
    cfg = config_for(preset, eval_tasks=tasks)
    setup = build(cfg)
    params = {"params": setup.model.init(jax.random.PRNGKey(0), jax.numpy.zeros((1, 2, setup.model.token_dim)), None)["params"]}
    (agent, *_) = cfg.method_def.agents(cfg, params, setup.model, setup.spec).values()
    key = jax.random.PRNGKey(1)
    batch = evaluation_tasks(cfg, setup.eval_env, key)
    num_steps = cfg.eval_episodes * setup.eval_env.horizon
    jax.block_until_ready(rollout(setup.eval_env, agent, batch, key, num_steps))  # compiled here, not timed
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(rollout(setup.eval_env, agent, batch, key, num_steps))
        best = min(best, time.perf_counter() - t0)
    return best, int(jax.tree.leaves(batch)[0].shape[0]) * num_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["bandit-dpt", "darkroom9-ad", "darkroom9-dpt"])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for preset in args.presets:
        seconds, steps = deployed_seconds(preset, args.tasks, args.rounds)
        print(f"{preset}: {seconds:.2f} s for {steps:,} environment steps ({steps / seconds:,.0f} steps/s)", flush=True)


if __name__ == "__main__":
    main()
