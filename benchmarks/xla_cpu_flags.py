"""icrl's training step under XLA:CPU's own settings: does any of them make it faster?

    python benchmarks/xla_cpu_flags.py [--repeats 2] [--microbatches 8] [--setting=--xla_cpu_enable_fast_math=true ...]

bandit-dpt's model and batch (as benchmarks/torch_step.py: 3 layers, width 64, 2 heads, batch
128 of 101 tokens, ALiBi and learned positions), its step in ``--microbatches`` parts. XLA reads its
flags once per process, so each setting runs in a process of its own, the settings taken in turns
``--repeats`` times (load on a shared machine falls on each alike); each process prints its best
step over a few rounds, and the table gives the median over repeats and the speed against no flags.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SETTINGS = [  # XLA:CPU flags of jaxlib 0.10 that bear on how a step runs (not on how it compiles)
    "",
    "--xla_cpu_enable_fast_math=true",
    "--xla_cpu_enable_concurrency_optimized_scheduler=true",
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_use_xnnpack=true",
    "--xla_cpu_experimental_ynn_fusion_type=dot",  # YNNPACK for the products only, not reductions (default: both)
    "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise",
    "--xla_cpu_prefer_vector_width=512",
    "--xla_cpu_multi_thread_eigen=false",
]


def child(microbatches: int, rounds: int) -> None:
    import jax
    from timing import interleaved_step_seconds
    from torch_step import ARMS, HORIZON, icrl_trainer  # the same model and batch, made the same way

    import envs
    from icrl.models import TokenSpec
    from train.methods.dpt.data import make_dpt_dataset

    env, _ = envs.make("bernoulli-bandit", num_arms=ARMS, horizon=HORIZON)
    spec = TokenSpec.for_env(env)
    dataset = make_dpt_dataset(env, jax.random.PRNGKey(0), 2000, HORIZON)
    runs = {}
    for encoding in ("alibi", "learned"):
        trainer = icrl_trainer(spec, encoding, microbatches)
        runs[encoding] = (trainer, trainer.put_data(dataset))
    print(json.dumps(interleaved_step_seconds(runs, rounds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="turns through the settings")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 5 steps in each process (best kept)")
    parser.add_argument("--microbatches", type=int, default=8)
    parser.add_argument("--setting", action="append", dest="flags",
                        help="XLA flags to compare with none, written --setting=FLAGS (repeatable; default: a list of XLA:CPU's)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.microbatches, args.rounds)
    args.flags = args.flags or SETTINGS
    if "" not in args.flags:
        args.flags = ["", *args.flags]  # the baseline every ratio is against
    seconds = {flags: {"alibi": [], "learned": []} for flags in args.flags}
    for turn in range(args.repeats):
        for flags in args.flags:
            env = dict(os.environ, XLA_FLAGS=" ".join(f for f in [os.environ.get("XLA_FLAGS", ""), flags] if f))
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--microbatches", str(args.microbatches),
                                  "--rounds", str(args.rounds)], env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"XLA_FLAGS={flags!r} failed:\n{out.stderr[-2000:]}")
            for encoding, s in json.loads(out.stdout.strip().splitlines()[-1]).items():
                seconds[flags][encoding].append(s)
            print(f"turn {turn + 1}/{args.repeats} {flags or '(no flags)'}: "
                  + ", ".join(f"{e} {v[-1] * 1000:.1f} ms" for e, v in seconds[flags].items()), flush=True)
    base = {e: statistics.median(v) for e, v in seconds[""].items()}
    print(f"\nms per training step, median of {args.repeats} processes each, {args.microbatches} microbatch(es); "
          "speed against no flags")
    for flags, by_encoding in seconds.items():
        cells = [f"{e} {statistics.median(v) * 1000:6.1f} ({base[e] / statistics.median(v):.2f}x)" for e, v in by_encoding.items()]
        print(f"  {flags or '(no flags)':58s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
