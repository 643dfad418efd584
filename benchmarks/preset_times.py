"""How long each preset of the common benchmark trains on this machine, from its measured step time.

    python benchmarks/preset_times.py [--benchmarks darkroom9 keydoor9] [--presets NAME ...] [--rounds 3] [--json FILE]

For every preset: its training step (its own model, objective, batch and microbatches, on data made
as its runs make them from ``--dataset-tasks`` training tasks, or streamed / meta-RL trials where
it makes its own) timed in turns with every other preset's, best of ``--rounds`` rounds of a few
steps, so that load on a shared machine falls on each alike; times its ``train_steps`` gives its
training minutes (the benchmark table's column, which runs measure end to end, checkpoints and
progress included). Beside it, where a preset trains on a fixed dataset, the seconds that making
the whole dataset takes, scaled from a second making of ``--dataset-tasks`` tasks (the first
compiles). Untrained parameters: a step's cost does not depend on what the model learned.
Run it on an otherwise idle machine: the minutes are absolute, not ratios. As many host devices as
``python -m train`` makes from the cores, unless ``XLA_FLAGS`` names a count. ``--json FILE`` writes
the figures (``python docs/make_results.py --preset-times FILE`` puts them in the results page's
benchmark tables).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from train.devices import use_every_core  # noqa: E402

use_every_core()  # the devices a training run makes, before JAX starts

import jax  # noqa: E402

from icrl.training import Trainer  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.presets import benchmarks  # noqa: E402
from train.experiments import _make_data, build  # noqa: E402
from timing import interleaved_step_seconds  # noqa: E402  (benchmarks/timing.py)


def trainer_and_data(cfg, setup, num_tasks: int):
    """``(trainer, data on the devices, seconds to make the full dataset or None)`` of one preset."""
    trainer = (setup.objective.make_trainer(setup.model, cfg.train) if hasattr(setup.objective, "make_trainer")
               else Trainer(setup.model, setup.objective, cfg.train))
    if not (cfg.data_source == "fixed" and cfg.method_def.supervised):
        return trainer, trainer.put_data(None), None
    key = jax.random.PRNGKey(cfg.seed)
    _make_data(cfg, setup.env, key, num_tasks)  # compiles
    t0 = time.perf_counter()
    data = _make_data(cfg, setup.env, jax.random.fold_in(key, 1), num_tasks)
    jax.block_until_ready(jax.tree.leaves(data.samples))
    data_s = (time.perf_counter() - t0) * cfg.num_train_tasks / num_tasks
    return trainer, trainer.put_data(data.samples), data_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", nargs="+", default=sorted(benchmarks()), choices=sorted(benchmarks()))
    parser.add_argument("--presets", nargs="+", default=None, help="only these presets (of the benchmarks named)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dataset-tasks", type=int, default=512)
    parser.add_argument("--limit-minutes", type=float, default=10.0, help="flag presets whose training would take longer")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args()
    presets = [p for b in args.benchmarks for p in benchmarks()[b]]
    if args.presets:
        unknown = sorted(set(args.presets) - set(presets))
        if unknown:
            raise SystemExit(f"{unknown} are not presets of {args.benchmarks}; they have {presets}")
        presets = [p for p in presets if p in args.presets]
    print(f"{jax.device_count()} {jax.default_backend()} device(s); {len(presets)} presets")
    runs, cfgs, data_seconds = {}, {}, {}
    for preset in presets:
        cfg = cfgs[preset] = config_for(preset)
        trainer, data, data_seconds[preset] = trainer_and_data(cfg, build(cfg), args.dataset_tasks)
        runs[preset] = (trainer, data)
    seconds = interleaved_step_seconds(runs, args.rounds, steps=2 if any(c.objective == "rl2" for c in cfgs.values()) else 5)
    print("\n| preset | step (ms) | steps | training (min) | data (min) |\n| --- | --- | --- | --- | --- |")
    over = []
    for preset in presets:
        minutes = seconds[preset] * cfgs[preset].train.train_steps / 60
        data = "—" if data_seconds[preset] is None else f"{data_seconds[preset] / 60:.1f}"
        print(f"| {preset} | {seconds[preset] * 1e3:.0f} | {cfgs[preset].train.train_steps} | {minutes:.1f} | {data} |")
        if minutes > args.limit_minutes:
            over.append(preset)
    print(f"\nlongest: {max(presets, key=lambda p: seconds[p] * cfgs[p].train.train_steps)}; "
          + (f"over {args.limit_minutes:g} min of training: {', '.join(over)}" if over else f"every one within {args.limit_minutes:g} min"))
    if args.json:
        figures = {"format": "icrl-preset-times/1", "devices": jax.device_count(), "backend": jax.default_backend(),
                   "cores": os.cpu_count(), "processor": platform.processor() or platform.machine(), "rounds": args.rounds,
                   "date": time.strftime("%Y-%m-%d"),
                   "presets": {p: {"step_ms": seconds[p] * 1e3, "steps": cfgs[p].train.train_steps,
                                   "minutes": seconds[p] * cfgs[p].train.train_steps / 60,
                                   "data_minutes": None if data_seconds[p] is None else data_seconds[p] / 60}
                               for p in presets}}
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
