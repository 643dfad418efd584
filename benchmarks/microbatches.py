"""A preset's training step with its batch in one piece and in microbatches, side by side.

    python benchmarks/microbatches.py [--presets darkroom-ad-s5 bandit-dpt-s5] [--parts 1 2 4 8] [--rounds 5]

Each preset's compiled step (its own model, objective, batch and data source; a fixed dataset
of ``--dataset-tasks`` tasks, whose size does not change a step's cost) with the batch split in
each of ``--parts`` microbatches (gradient accumulation: the same gradient), timed interleaved
over ``--rounds`` rounds of 5 steps, best round of each, and the speed against one piece. The
figures behind the presets' ``microbatches``.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.training import Trainer  # noqa: E402
from train.configs import config_for, replace  # noqa: E402
from train.experiments import _make_data, build  # noqa: E402
from timing import interleaved_step_seconds  # noqa: E402  (benchmarks/timing.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["darkroom-ad-s5", "bandit-dpt-s5"])
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dataset-tasks", type=int, default=2000)
    args = parser.parse_args()
    for preset in args.presets:
        cfg = config_for(preset)
        setup = build(cfg)
        samples = None if cfg.data_source == "stream" else _make_data(cfg, setup.env, jax.random.PRNGKey(0), args.dataset_tasks).samples
        runs = {}
        for parts in args.parts:
            trainer = Trainer(setup.model, setup.objective, replace(cfg, microbatches=parts).train)
            runs[parts] = (trainer, trainer.put_data(samples))
        seconds = interleaved_step_seconds(runs, args.rounds)
        one = seconds.get(1)
        print(f"{preset} ({cfg.data_source} data, batch {cfg.train.batch_size}, the preset's microbatches {cfg.train.microbatches}):")
        for parts, s in seconds.items():
            ratio = f", {one / s:.2f}x one piece" if one else ""
            print(f"  {parts} microbatch(es): {s * 1000:.1f} ms per step{ratio}", flush=True)


if __name__ == "__main__":
    main()
