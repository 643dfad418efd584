"""What RA-DT costs against full-context AD: tokens attended per step, training steps/s, environment
steps/s deployed, and memory per task, measured side by side in one process.

    python benchmarks/radt_cost.py [--pairs darkroom9-ad:darkroom9-radt] [--rounds 5] [--tasks 160] [--episodes 4]

For each pair ``AD:RADT`` of presets: both training steps (their own model, objective and batch, on
a fixed dataset of ``--dataset-tasks`` histories) timed interleaved, best of ``--rounds`` rounds;
both deployed agents rolled out on ``--tasks`` held-out tasks for ``--episodes`` episodes (compiled
first, then timed in turns, best of 3). Untrained parameters: cost does not depend on what a model
learned. AD attends to its whole window (a KV cache of ``max_len`` steps per layer); RA-DT runs its
model on the retrieved values and its window at every step, and keeps every step's token and each chunk's key
as its memory. More than two presets may be compared in one group: ``--pairs darkroom20-ad:darkroom20-ad-short:darkroom20-radt``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.rollout import rollout  # noqa: E402
from icrl.training import Trainer  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import _make_data, build  # noqa: E402
from timing import interleaved_step_seconds  # noqa: E402  (benchmarks/timing.py)


def state_bytes(agent) -> int:
    """Bytes of one task's agent state (the KV cache, or RA-DT's memory)."""
    state = agent.init(jax.random.PRNGKey(0), None)
    return int(sum(np.asarray(x).nbytes for x in jax.tree.leaves(state)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["darkroom9-ad:darkroom9-radt"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dataset-tasks", type=int, default=512)
    parser.add_argument("--tasks", type=int, default=160)
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()
    for pair in args.pairs:
        presets = pair.split(":")
        setups, trainers, agents = {}, {}, {}
        for preset in presets:
            cfg = config_for(preset)
            setup = build(cfg)
            samples = _make_data(cfg, setup.env, jax.random.PRNGKey(0), args.dataset_tasks).samples
            trainer = Trainer(setup.model, setup.objective, cfg.train)
            params = trainer.init_state().params
            setups[preset] = (cfg, setup)
            trainers[preset] = (trainer, trainer.put_data(samples))
            agents[preset] = next(iter(cfg.method_def.agents(cfg, jax.device_get(params), setup.model, setup.spec).values()))
        step_s = interleaved_step_seconds(trainers, args.rounds)
        env = setups[presets[0]][1].eval_env
        tasks = env.sample_tasks(jax.random.PRNGKey(1), args.tasks, "test")
        steps = args.episodes * env.horizon
        deploy = lambda agent, key: rollout(env, agent, tasks, key, num_steps=steps).reward  # noqa: E731
        best = dict.fromkeys(presets, float("inf"))
        for p in presets:
            jax.block_until_ready(deploy(agents[p], jax.random.PRNGKey(2)))  # compiles
        for r in range(3):
            for p in presets:
                t0 = time.perf_counter()
                jax.block_until_ready(deploy(agents[p], jax.random.PRNGKey(3 + r)))
                best[p] = min(best[p], time.perf_counter() - t0)
        print(f"{pair}: {args.tasks} tasks x {steps} steps deployed, {jax.device_count()} device(s)")
        print(f"  {'preset':<24} {'tokens/step':>11} {'train ms/step':>13} {'env steps/s':>11} {'state KiB/task':>14}")
        for p in presets:
            setup = setups[p][1]
            tokens = setup.model.max_len  # the training sequence: AD's window (its KV cache), RA-DT's retrieved values and window
            print(f"  {p:<24} {tokens:>11} {1000 * step_s[p]:>13.1f} {args.tasks * steps / best[p]:>11.0f} "
                  f"{state_bytes(agents[p]) / 1024:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
