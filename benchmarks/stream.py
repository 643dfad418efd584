"""Streamed against fixed-dataset pretraining: training steps per second, and (with --train) what each learns.

    python benchmarks/stream.py [--presets bandit-dpt darkroom-dpt darkroom-ad] [--rounds 5] [--train] [--memory]

(1) For each preset, the compiled training step with its batch sampled from a fixed
dataset and with streamed data (``--data-source stream``: for DPT the batch made afresh
inside the step, new training-split tasks, the collectors' rollouts and the labels; for
AD the pool of learning histories with its refreshes between steps), measured
interleaved over ``--rounds`` rounds of 5 steps (best round of each), and the ratio
stream / fixed in steps per second, beside the fixed dataset's generation time, so that
the two compare per second of wall time: streaming is as fast end to end when
stream / fixed >= train / (generation + train). (2) ``--train``: both data sources trained at the
preset's step count with the same seed; the held-out result of each and the loss on
validation contexts (fresh, of training-split tasks). The run with the preset's own data source is docs/make_results.py's
(``runs/results/PRESET-seedK``), reused when its results exist with the same config; the
other goes to ``runs/bench-stream``. (3) ``--memory``: the peak host memory (resident set) of a
streamed bandit-dpt at paper scale (``--scale paper`` data and model: contexts of 500
pulls, batch 128, 4 layers of width 128) trained for ``--memory-steps`` steps, measured in
a fresh process so nothing else counts, with the batch in one piece and in ``--microbatches``
(gradient accumulation), and the compiled step's temporaries.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.results import format_table  # noqa: E402
from icrl.training import Trainer  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import _make_data, build, run, saved_results  # noqa: E402
from timing import interleaved_step_seconds  # noqa: E402  (benchmarks/timing.py)

OUT = os.path.join("runs", "bench-stream")
RESULTS = os.path.join("runs", "results")  # docs/make_results.py's runs


def steps_per_second(preset: str, rounds: int, dataset_tasks: int) -> dict[str, float]:
    runs = {}
    for source in ("fixed", "stream"):
        cfg = config_for(preset, data_source=source)
        setup = build(cfg)
        trainer = Trainer(setup.model, setup.objective, cfg.train)
        samples = _make_data(cfg, setup.env, jax.random.PRNGKey(0), dataset_tasks).samples if source == "fixed" else None
        runs[source] = (trainer, trainer.put_data(samples))
    return {source: 1.0 / seconds for source, seconds in interleaved_step_seconds(runs, rounds).items()}


def generation_seconds(cfg) -> float:
    """Seconds to make ``cfg``'s fixed dataset in this process, compilation included (as a run pays it)."""
    setup = build(cfg)
    t0 = time.perf_counter()
    data = _make_data(cfg, setup.env, jax.random.PRNGKey(1), cfg.num_train_tasks)
    jax.block_until_ready(data.history.action)
    return time.perf_counter() - t0


def compiled_step_memory(microbatches: int) -> dict[str, float]:
    """GiB of temporaries XLA allocates for the compiled training step of a streamed paper-scale
    bandit-dpt: attention in blocks of queries (the default) and whole, the batch in one piece,
    and the batch in ``microbatches`` (gradient accumulation) with attention in blocks."""
    from icrl.models import transformer

    out, default = {}, transformer.QUERY_CHUNK
    settings = (("attention whole", 10**9, 1), ("attention in blocks", default, 1),
                (f"in blocks, {microbatches} microbatches", default, microbatches))
    for name, chunk, parts in settings:
        cfg = config_for("bandit-dpt", scale="paper", data_source="stream", num_devices=1, microbatches=parts)
        transformer.QUERY_CHUNK = chunk
        try:
            setup = build(cfg)
            trainer = Trainer(setup.model, setup.objective, cfg.train)
            compiled = trainer._step.lower(trainer.init_state(), trainer.put_data(None), trainer._first_nonfinite).compile()
            out[name] = compiled.memory_analysis().temp_size_in_bytes / 2**30
        finally:
            transformer.QUERY_CHUNK = default
    return out


def peak_memory_child(steps: int, microbatches: int) -> None:
    """Train a streamed paper-scale bandit-dpt for ``steps`` steps in this process (its batch in
    ``microbatches``); print its peak RSS."""
    from icrl.training import train

    cfg = config_for("bandit-dpt", scale="paper", data_source="stream", train_steps=steps, microbatches=microbatches)
    setup = build(cfg)
    batch = jax.jit(lambda key: setup.objective.sample_batch(None, key, cfg.train.batch_size))(jax.random.PRNGKey(0))
    batch_mib = sum(x.nbytes for x in jax.tree.leaves(batch)) / 2**20
    print(f"one streamed batch: {batch_mib:.1f} MiB; peak host memory after making it "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    t0 = time.perf_counter()
    train(setup.model, setup.objective, None, cfg.train, progress=False)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"bandit-dpt --scale paper --data-source stream --microbatches {microbatches} ({cfg.num_layers} layers of width "
          f"{cfg.width}, batch {cfg.train.batch_size}, contexts of {cfg.context_episodes * cfg.horizon} pulls), {steps} steps "
          f"in {time.perf_counter() - t0:.0f} s: peak host memory {peak_mib:,.0f} MiB")


def main() -> None:
    if sys.argv[1:2] == ["--memory-child"]:
        peak_memory_child(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=["bandit-dpt", "darkroom-dpt", "darkroom-ad"], help="none: skip the timing")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dataset-tasks", type=int, default=4000, help="fixed dataset size for the timing (its size does not change a step's cost)")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory", action="store_true", help="peak host memory of a streamed paper-scale bandit-dpt")
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--microbatches", type=int, nargs="*", default=[1, 8],
                        help="--memory: one fresh process per value, the batch split in this many microbatches")
    args = parser.parse_args()
    if args.memory:  # a fresh process each: its peak is that streamed run's alone
        for parts in args.microbatches:
            subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", str(args.memory_steps), str(parts)], check=True)
        temps = compiled_step_memory(max(args.microbatches))
        print("compiled training step of the streamed paper-scale bandit-dpt, temporaries: "
              + ", ".join(f"{name} {gib:.2f} GiB" for name, gib in temps.items()))
    for preset in args.presets:
        rate = steps_per_second(preset, args.rounds, args.dataset_tasks)
        cfg = config_for(preset)
        gen = generation_seconds(cfg)
        train_s = cfg.train.train_steps / rate["fixed"]
        print(f"{preset} (batch {cfg.train.batch_size}, context {cfg.context_episodes * cfg.horizon}): "
              f"fixed {rate['fixed']:.2f} steps/s, stream {rate['stream']:.2f} steps/s; stream / fixed {rate['stream'] / rate['fixed']:.2f}; "
              f"the fixed dataset ({cfg.num_train_tasks} tasks) takes {gen:.1f} s to make and {cfg.train.train_steps} steps "
              f"{train_s:.0f} s: streaming is as fast end to end at a ratio >= {train_s / (gen + train_s):.2f}")
    if not args.train:
        return
    for preset in args.presets:
        for source in ("fixed", "stream"):
            # the preset's own data source is docs/make_results.py's run; the other one goes to runs/bench-stream
            made = source == config_for(preset).data_source
            out_dir, name = (RESULTS, f"{preset}-seed{args.seed}") if made else (OUT, f"{preset}-{source}-seed{args.seed}")
            cfg = config_for(preset, data_source=source, seed=args.seed, out_dir=out_dir)
            results = saved_results(cfg, name) or run(cfg, name, progress=False)
            print(f"\n{preset}, data {source}: training {results['train_seconds']:.0f} s, validation loss "
                  f"{results['final_loss']:.4f} (last batch {results['final_train_loss']:.4f})")
            print(format_table(results))


if __name__ == "__main__":
    main()
