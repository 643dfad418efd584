"""Meta-RL (PPO, RL²-style): S5 against GRU training throughput, and (with --train) what each learns in context.

    python benchmarks/metarl.py [--presets bandit-rl2 darkroom-rl2] [--rounds 3] [--train] [--seed 0]

(1) For each preset, one PPO update (rollout of the trials, the parallel pass, the
minibatch epochs) with the S5 policy and with the GRU policy at the same width and
depth, and with the S5 policy on one device (updates are data parallel over the
host devices ``python -m train`` makes), measured interleaved over ``--rounds``
rounds of 2 updates (best round of each); environment steps per second of training,
the ratio S5 / GRU and the data-parallel speed-up; and, for the S5 policy, the share
of an update spent rolling out (the trials alone, on one device). (2)
``--train``: the named experiments (``PRESET-s5`` and ``PRESET-gru``) trained with
the same seed, or their saved results reused; held-out figures against the
baselines: bandits, cumulative regret at the horizon against Thompson sampling and
UCB; Dark Room, the return of each episode of the trial as a fraction of optimal,
beside DPT's and AD's on the same goals where docs/make_results.py's runs of
darkroom-dpt and darkroom-ad with this seed exist (``runs/results``).
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

from icrl.results import format_table  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import build, run, saved_results  # noqa: E402
from timing import interleaved_step_seconds  # noqa: E402  (benchmarks/timing.py)

OUT = os.path.join("runs", "bench-rl2")
RESULTS = os.path.join("runs", "results")  # docs/make_results.py's runs of DPT and AD


def _trainer(preset: str, backbone: str, **overrides):
    cfg = config_for(f"{preset}-{backbone}", **overrides)
    setup = build(cfg)
    return setup, setup.objective.make_trainer(setup.model, cfg.train), cfg


def throughput(preset: str, rounds: int) -> None:
    built = {backbone: _trainer(preset, backbone) for backbone in ("s5", "gru")}
    one = _trainer(preset, "s5", num_devices=1)[1]
    runs = {**{backbone: (trainer, None) for backbone, (_, trainer, _) in built.items()}, "s5-one": (one, None)}
    steps = {backbone: cfg.train.batch_size * setup.objective.trial_len for backbone, (setup, _, cfg) in built.items()}
    seconds = interleaved_step_seconds(runs, rounds, steps=2)
    rate = {b: steps[b] / seconds[b] for b in steps}
    cfg = built["s5"][2]
    print(f"{preset} ({cfg.train.batch_size} trials x {steps['s5'] // cfg.train.batch_size} steps per update, "
          f"{cfg.num_layers} layers of width {cfg.width}, {cfg.ppo_epochs} epochs x {cfg.ppo_minibatches} minibatches): "
          f"S5 {seconds['s5']:.2f} s/update ({rate['s5']:,.0f} env steps/s), GRU {seconds['gru']:.2f} s/update "
          f"({rate['gru']:,.0f} env steps/s); S5 / GRU {rate['s5'] / rate['gru']:.2f}x")
    print(f"  S5 on {built['s5'][1].num_shards} devices, data parallel: {seconds['s5']:.2f} s/update against "
          f"{seconds['s5-one']:.2f} on one ({seconds['s5-one'] / seconds['s5']:.2f}x)")
    for backbone, (setup, trainer, cfg) in built.items():  # the rollout alone: the part that runs step by step
        params = trainer.init_state().params
        collect = jax.jit(lambda p, k: setup.objective.collect(setup.model, p, k, cfg.train.batch_size))
        jax.block_until_ready(collect(params, jax.random.PRNGKey(0)))
        best = float("inf")
        for r in range(rounds):
            t0 = time.perf_counter()
            jax.block_until_ready(collect(params, jax.random.PRNGKey(r + 1)))
            best = min(best, time.perf_counter() - t0)
        print(f"  {backbone}: collecting the trials {best:.2f} s ({best / seconds[backbone]:.0%} of an update)")


def _fraction(results: dict, method: str) -> list[float]:
    m = results["methods"][method]
    return [r / m["optimal_return"] for r in m["episode_return"]]


def trained(preset: str, seed: int) -> None:
    for backbone in ("s5", "gru"):
        name = f"{preset}-{backbone}"
        cfg = config_for(name, seed=seed, out_dir=OUT)
        results = saved_results(cfg, f"{name}-seed{seed}") or run(cfg, f"{name}-seed{seed}", progress=False)
        print(f"\n{name}, seed {seed}: {results['train_seconds']:.0f} s of training")
        print(format_table(results))
        policy = f"RL2-{backbone}"
        if "cumulative_regret" in results["methods"][policy]:
            regret = {k: v["cumulative_regret"][-1] for k, v in results["methods"].items()}
            print(f"{policy} regret at step {results['num_steps']}: {regret[policy]:.2f}; / thompson "
                  f"{regret[policy] / regret['thompson']:.2f}x, / ucb {regret[policy] / regret['ucb']:.2f}x")
            continue
        print(f"{policy} return per episode / optimal: " + ", ".join(f"{f:.2f}" for f in _fraction(results, policy)))
        for other in ("darkroom-dpt", "darkroom-ad"):
            saved = saved_results(config_for(other, seed=seed, out_dir=RESULTS), f"{other}-seed{seed}")
            if saved is None:
                print(f"  ({other} seed {seed} has no saved run in {RESULTS}: python docs/make_results.py --only {other} --seeds {seed})")
                continue
            method = other.split("-")[1].upper()
            same_goals = saved["num_tasks"] == results["num_tasks"] and saved["env"] == results["env"]
            first = _fraction(saved, method)[: len(_fraction(results, policy))]
            print(f"  {method} on {'the same' if same_goals else 'OTHER'} goals, episodes 1-{len(first)} / optimal: "
                  + ", ".join(f"{f:.2f}" for f in first) + f" (its last of {len(_fraction(saved, method))}: {_fraction(saved, method)[-1]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["bandit-rl2", "darkroom-rl2"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"devices: {jax.device_count()} {jax.default_backend()}")
    for preset in args.presets:
        throughput(preset, args.rounds)
    if args.train:
        for preset in args.presets:
            trained(preset, args.seed)


if __name__ == "__main__":
    main()
