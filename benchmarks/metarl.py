"""Meta-RL (PPO, RL²-style): S5 against GRU training throughput, and (with --train) what each learns in context.

    python benchmarks/metarl.py [--presets bandit-rl2 darkroom-rl2] [--rounds 3] [--train] [--seed 0]
    python benchmarks/metarl.py --lengths 256 1024 4096 [--paper-size] [--steps-per-update 32768]
    python benchmarks/metarl.py --popjaxrl [--widths 256 64] [--rounds 2]

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
(3) ``--lengths``: how S5's lead over the GRU grows with the length of a trial (the S5 paper's claim): bandit-rl2's
trials of one episode of L pulls, as many trials per update as make ``--steps-per-update`` environment steps, so
every length trains on the same steps; for each L, environment steps per second of a whole PPO update and of the
rollout alone, S5 beside the GRU at the same width and depth, and their ratio. ``--paper-size``: popjaxrl's sizes
(S5 4 x 256 with state 256, GRU 256, 30 epochs x 8 minibatches) in place of the presets' CPU ones.
(4) ``--popjaxrl``: PPO at popjaxrl's own settings on POPGym's repeat-previous (easy): 64 trials of 20 episodes
(1,020 steps, against popjaxrl's 1,024-step rollouts), 30 epochs x 8 minibatches, S5 4 layers x 256 (state 256)
and a GRU of one layer of 256, then both again at width 64; the first update's seconds (compiling it included),
environment steps per second of the updates after it, and the ratio to what popjaxrl's code reaches on a 2-core
CPU (POPJAXRL below).
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
    for backbone, built_one in built.items():  # the rollout alone: the part that runs step by step
        best = _rollout_seconds(*built_one, rounds)
        print(f"  {backbone}: collecting the trials {best:.2f} s ({best / seconds[backbone]:.0%} of an update)")


def _rollout_seconds(setup, trainer, cfg, rounds: int) -> float:
    """The best of ``rounds`` timings of one update's rollout of the trials alone (compiled first)."""
    params = trainer.init_state().params
    collect = jax.jit(lambda p, k: setup.objective.collect(setup.model, p, k, cfg.train.batch_size))
    jax.block_until_ready(collect(params, jax.random.PRNGKey(0)))
    best = float("inf")
    for r in range(rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(collect(params, jax.random.PRNGKey(r + 1)))
        best = min(best, time.perf_counter() - t0)
    return best


def lengths(lengths: list[int], rounds: int, steps_per_update: int, paper: bool) -> None:
    """S5 against the GRU at each trial length, the same environment steps per update (see the module's (3))."""
    from train.methods.rl2.presets import PAPER_RL2

    size = {k: PAPER_RL2[k] for k in ("num_layers", "width", "state_size", "ppo_epochs", "ppo_minibatches")} if paper else {}
    print(f"trial length | trials | S5 update | GRU update | S5 / GRU | S5 rollout | GRU rollout | S5 / GRU "
          f"(environment steps per second; {'popjaxrl' if paper else 'CPU'} sizes)")
    for length in lengths:
        unit = size.get("ppo_minibatches", config_for("bandit-rl2-s5").method.ppo_minibatches) * jax.device_count()
        trials = max(unit, round(steps_per_update / length / unit) * unit)  # whole minibatches on every device
        built = {b: _trainer("bandit-rl2", b, horizon=length, batch_size=trials, **size) for b in ("s5", "gru")}
        seconds = interleaved_step_seconds({b: (trainer, None) for b, (_, trainer, _) in built.items()}, rounds, steps=1)
        rollout = {backbone: _rollout_seconds(*built_one, rounds) for backbone, built_one in built.items()}
        steps = trials * length
        up = {b: steps / seconds[b] for b in seconds}
        roll = {b: steps / rollout[b] for b in rollout}
        print(f"{length:>12,} | {trials:>6} | {up['s5']:>9,.0f} | {up['gru']:>10,.0f} | {up['s5'] / up['gru']:>7.2f}x | "
              f"{roll['s5']:>10,.0f} | {roll['gru']:>11,.0f} | {roll['s5'] / roll['gru']:>7.2f}x", flush=True)


#: popjaxrl's PPO on repeat-previous (easy), environment steps per second on a 2-core CPU with jax 0.4.13, by (backbone,
#: width); its S5 at width 256 compiled in 448 s
POPJAXRL = {("s5", 256): 176, ("gru", 256): 232, ("s5", 64): 1835, ("gru", 64): 1094}


def popjaxrl_settings(rounds: int, widths: list[int]) -> None:
    """icrl's PPO at popjaxrl's settings, S5 beside the GRU (see the module's (4))."""
    print("backbone | width | first update (compiling) | s / update | env steps/s | popjaxrl's | ratio")
    for width in widths:
        for backbone, layers in (("s5", 4), ("gru", 1)):
            cfg = config_for(f"popgym-repeat-previous-{backbone}", scale="paper", context_episodes=20, eval_episodes=20,
                             num_layers=layers, width=width, state_size=width)
            setup = build(cfg)
            trainer = setup.objective.make_trainer(setup.model, cfg.train)
            steps = cfg.train.batch_size * setup.objective.trial_len
            state, data = trainer.init_state(), None
            t0 = time.perf_counter()
            state, figures = trainer.step(state, data)
            jax.block_until_ready(figures)
            first = time.perf_counter() - t0
            best = float("inf")
            for _ in range(rounds):
                t0 = time.perf_counter()
                state, figures = trainer.step(state, data)
                jax.block_until_ready(figures)
                best = min(best, time.perf_counter() - t0)
            theirs = POPJAXRL.get((backbone, width))
            ratio = f"{steps / best / theirs:.2f}x" if theirs else "-"
            print(f"{backbone:>8} | {width:>5} | {first:>22.1f} s | {best:>10.2f} | {steps / best:>11,.0f} | "
                  f"{theirs or '-':>10} | {ratio}  ({steps:,} steps per update)", flush=True)


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
    parser.add_argument("--lengths", type=int, nargs="+", help="trial lengths to time S5 against the GRU at (alone)")
    parser.add_argument("--steps-per-update", type=int, default=32768, help="with --lengths: environment steps per update")
    parser.add_argument("--paper-size", action="store_true", help="with --lengths: popjaxrl's model sizes")
    parser.add_argument("--popjaxrl", action="store_true", help="PPO at popjaxrl's settings on repeat-previous (alone)")
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 64], help="with --popjaxrl: model widths")
    args = parser.parse_args()
    print(f"devices: {jax.device_count()} {jax.default_backend()}")
    if args.lengths:
        if any(n < 1 for n in args.lengths) or args.steps_per_update < 1:
            parser.error(f"--lengths and --steps-per-update take positive integers, got {args.lengths} and {args.steps_per_update}")
        lengths(args.lengths, args.rounds, args.steps_per_update, args.paper_size)
        return
    if args.popjaxrl:
        if any(w < 1 for w in args.widths) or args.rounds < 1:
            parser.error(f"--widths and --rounds take positive integers, got {args.widths} and {args.rounds}")
        popjaxrl_settings(args.rounds, args.widths)
        return
    for preset in args.presets:
        throughput(preset, args.rounds)
    if args.train:
        for preset in args.presets:
            trained(preset, args.seed)


if __name__ == "__main__":
    main()
