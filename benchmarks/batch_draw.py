"""What drawing a batch from device-count-independent keys costs: each group of rows of a batch drawn with a key
of its own (vmapped, as the trainer draws it, so one device and N train on the same batches) against each device
drawing its share in one call with a key of its own (how batches were drawn before, which made them depend on the
device count), and against a whole training step.

    python benchmarks/batch_draw.py [--presets bandit-dpt darkroom9-ad darkroom9-radt] [--tasks 2000] [--rounds 5]

Per preset: milliseconds per batch drawn both ways on the training devices, measured in turns (best of ``--rounds`` rounds of 20 draws,
the first round compiling), and a training step's milliseconds; the extra cost of the groups as a share of
the step. Data of ``--tasks`` training tasks (the draw does not depend on the dataset's size).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from train.devices import use_every_core  # noqa: E402

use_every_core()  # the devices a training run makes, before JAX starts

import jax  # noqa: E402
from jax.sharding import PartitionSpec  # noqa: E402

from benchmarks.timing import interleaved_step_seconds  # noqa: E402
from icrl.training import Trainer  # noqa: E402
from train import config_for  # noqa: E402
from train.experiments import _dataset, build  # noqa: E402


def best_seconds(fns: dict, rounds: int, calls: int = 20) -> dict[str, float]:
    """Best seconds per call of each ``name -> fn()`` (returns arrays), in turns; a first round compiles."""
    best = {name: float("inf") for name in fns}
    for _ in range(rounds + 1):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                out = fn()
            jax.block_until_ready(out)
            best[name] = min(best[name], (time.perf_counter() - t0) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["bandit-dpt", "darkroom9-ad", "darkroom9-radt"])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{jax.device_count()} {jax.default_backend()} device(s)")
    print(f"{'preset':<18}{'groups (ms)':>12}{'per device (ms)':>17}{'ratio':>8}{'step (ms)':>11}{'extra / step':>14}")
    import tempfile

    for preset in args.presets:
        cfg = config_for(preset, num_train_tasks=args.tasks)
        setup = build(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            made = None if cfg.data_source == "stream" else _dataset(cfg, setup.env, tmp)
        trainer = Trainer(setup.model, setup.objective, cfg.train)
        data = trainer.put_data(None if made is None else made.samples)
        local = cfg.train.batch_size // trainer.num_shards

        def per_shard(d, k):  # the draw before: the device's share in one call, the key folded with its index
            return setup.objective.sample_batch(d, jax.random.fold_in(k, jax.lax.axis_index("data")), local)

        spec = PartitionSpec("data")
        before = jax.jit(jax.shard_map(per_shard, mesh=trainer.mesh, in_specs=(spec if trainer.pooled else PartitionSpec(),
                                                                               PartitionSpec()), out_specs=spec, check_vma=False))
        key = jax.random.PRNGKey(0)
        draws = best_seconds({"groups": lambda: trainer.batch(3, data), "one": lambda: before(data, key)}, args.rounds)
        step = interleaved_step_seconds({"step": (trainer, data)}, args.rounds)["step"]
        extra = draws["groups"] - draws["one"]
        print(f"{preset:<18}{1e3 * draws['groups']:>12.2f}{1e3 * draws['one']:>17.2f}{draws['groups'] / draws['one']:>8.2f}"
              f"{1e3 * step:>11.1f}{100 * extra / step:>13.1f}%")


if __name__ == "__main__":
    main()
