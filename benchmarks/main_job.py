"""Candidate settings of the main job (bandit-dpt) and of linear-bandit-dpt: training-split regret against
training wall time.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python benchmarks/main_job.py \
        [--preset bandit-dpt] [--candidates NAME ...] [--eval-tasks 1000] [--chunk 25] [--seeds 0 1 2]

Every candidate is the preset with some settings changed (:data:`CANDIDATES`, :data:`LINEAR`). All are
trained in one process, in turns of ``--chunk`` steps (a candidate of fewer steps takes
proportionally shorter turns, so all finish together), so that load on a shared machine
falls on each alike; each candidate's own training seconds are summed, compilation
excluded (it is timed on its own and printed beside). Each is then evaluated on
``--eval-tasks`` tasks of the **training** split, with Thompson sampling (linear Thompson
sampling on linear bandits) on the same tasks and keys: the presets' settings are chosen on
this table, never on held-out tasks. ``num_devices`` of a candidate needs that many host devices (the ``XLA_FLAGS`` above).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.results import format_table  # noqa: E402
from icrl.training import Trainer  # noqa: E402
from train.configs import config_for, replace  # noqa: E402
from train.experiments import build, evaluate  # noqa: E402

#: The main job before this table chose its settings: 600 steps of 3 layers behind a linear token embedding.
_BEFORE = dict(train_steps=600, num_layers=3, embedding="linear")
#: name -> settings changed from the bandit-dpt preset (width 64, rotary positions, batch 128 in 4 microbatches, streamed;
#: 1,500 steps of 2 layers behind an MLP token embedding at learning rate 2e-3, chosen on this table)
CANDIDATES = {
    "preset": dict(),
    "preset-1dev": dict(_BEFORE, train_steps=2000, learning_rate=1e-3, num_devices=1, position_encoding="alibi"),  # one device
    "s600-lr2e-3": dict(_BEFORE, position_encoding="alibi"),
    "s800-lr2e-3-l2": dict(_BEFORE, train_steps=800, num_layers=2, position_encoding="alibi"),
    "s1200-lr2e-3-l2": dict(_BEFORE, train_steps=1200, num_layers=2, position_encoding="alibi"),
    "s1200-lr2e-3-b64": dict(_BEFORE, train_steps=1200, batch_size=64, microbatches=2, position_encoding="alibi"),
    "s1500-lr2e-3-l2-b64": dict(_BEFORE, train_steps=1500, num_layers=2, batch_size=64, microbatches=2, position_encoding="alibi"),
    "s1000-lr2e-3": dict(_BEFORE, train_steps=1000, position_encoding="alibi"),
    "s1600-lr2e-3-l2": dict(_BEFORE, train_steps=1600, num_layers=2, position_encoding="alibi"),
    "s800-lr2e-3": dict(_BEFORE, train_steps=800, position_encoding="alibi"),
    "s1000-lr1e-3": dict(_BEFORE, train_steps=1000, learning_rate=1e-3, position_encoding="alibi"),
    "s1400-lr1e-3": dict(_BEFORE, train_steps=1400, learning_rate=1e-3, position_encoding="alibi"),
    "s600-mix75": dict(_BEFORE, collector="dirichlet:0.25,thompson:0.75", position_encoding="alibi"),
    "s600-lr3e-3": dict(_BEFORE, learning_rate=3e-3, position_encoding="alibi"),
    "s600-w96": dict(_BEFORE, width=96, position_encoding="alibi"),
    "s450-w96-l2": dict(_BEFORE, train_steps=450, width=96, num_layers=2, position_encoding="alibi"),
    "s600-rotary": dict(_BEFORE),  # the main job before this table
    "s600-learned": dict(_BEFORE, position_encoding="learned"),
    "s600-mlp": dict(_BEFORE, embedding="mlp"),
    "s600-mlp-l2": dict(_BEFORE, embedding="mlp", num_layers=2),
    "s900-mlp-l2": dict(train_steps=900),
    "s1000-l2": dict(_BEFORE, train_steps=1000, num_layers=2),
    "s1200-mlp-l2": dict(train_steps=1200),
    "s1500-l2": dict(_BEFORE, train_steps=1500, num_layers=2),
    "s1200": dict(_BEFORE, train_steps=1200),
}
#: linear-bandit-dpt's candidates, all streamed (trained here without a dataset): its settings before this table (800 steps
#: of 3 layers, linear token embedding, ALiBi, one piece, learning rate 1e-3) and the main job's recipe (2 layers behind an
#: MLP embedding, rotary positions, 4 microbatches, learning rate 2e-3)
_RECIPE = dict(data_source="stream", num_layers=2, embedding="mlp", position_encoding="rotary", microbatches=4, learning_rate=2e-3)
LINEAR = {
    "before-streamed": dict(data_source="stream"),
    "recipe-s1500": dict(_RECIPE, train_steps=1500),
    "recipe-s2400": dict(_RECIPE, train_steps=2400),
}
#: per preset: its candidates and the classic algorithm its regret is read against
PRESETS = {"bandit-dpt": (CANDIDATES, "thompson"), "linear-bandit-dpt": (LINEAR, "lin-thompson")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bandit-dpt", choices=list(PRESETS))
    parser.add_argument("--candidates", nargs="+", default=None, metavar="NAME", help="default: every candidate of the preset")
    parser.add_argument("--eval-tasks", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=25, help="steps of the longest candidate per turn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds, one after another")
    args = parser.parse_args()
    table, _ = PRESETS[args.preset]
    args.candidates = args.candidates or list(table)
    unknown = [c for c in args.candidates if c not in table]
    if unknown:
        parser.error(f"unknown candidates {unknown} of {args.preset}; valid: {list(table)}")
    for seed in args.seeds:
        compare(args, seed)


def compare(args, seed: int) -> None:
    runs, (table, yardstick) = {}, PRESETS[args.preset]
    for name in args.candidates:
        cfg = config_for(args.preset, seed=seed, eval_split="train", eval_tasks=args.eval_tasks, **table[name])
        setup = build(cfg)
        trainer = Trainer(setup.model, setup.objective, cfg.train)
        t0 = time.perf_counter()
        state, data = trainer.init_state(), trainer.put_data(None)
        state, loss = trainer.step(state, data)  # compiles
        jax.block_until_ready(loss)
        runs[name] = dict(cfg=cfg, setup=setup, trainer=trainer, state=state, data=data, done=1, seconds=0.0,
                          compile_s=time.perf_counter() - t0)
    longest = max(r["cfg"].train.train_steps for r in runs.values())
    while any(r["done"] < r["cfg"].train.train_steps for r in runs.values()):
        for r in runs.values():
            total = r["cfg"].train.train_steps
            if r["done"] >= total:
                continue
            target = min(total, r["done"] + max(1, round(args.chunk * total / longest)))
            t0 = time.perf_counter()
            while r["done"] < target:
                r["state"], loss = r["trainer"].step(r["state"], r["data"])
                r["done"] += 1
            jax.block_until_ready(loss)  # this candidate's own steps, done before the next one's begin
            r["seconds"] += time.perf_counter() - t0
        print(".", end="", flush=True)
    print()

    rows = []
    for name, r in runs.items():
        if r["trainer"].first_nonfinite_step() is not None:
            raise SystemExit(f"{name}: non-finite loss at step {r['trainer'].first_nonfinite_step()}")
        cfg = replace(r["cfg"], baselines=(yardstick,))
        results = evaluate(cfg, r["setup"].eval_env, r["setup"].model, r["setup"].spec, jax.device_get(r["state"].params))
        regret = {m: v["cumulative_regret"][-1] for m, v in results["methods"].items()}
        model = next(m for m in regret if m != yardstick)
        rows.append((name, cfg.train.train_steps, r["seconds"], r["compile_s"], regret[model], regret[yardstick]))
        if name == args.candidates[0]:
            print(format_table(results))
    print(f"\n{args.preset} candidates, seed {seed}, {jax.device_count()} host device(s); training split, "
          f"{args.eval_tasks} tasks; training seconds measured in turns (compilation apart)")
    print(f"{'candidate':<20} {'steps':>6} {'train s':>8} {'ms/step':>8} {'compile s':>9} {'regret':>7} {yardstick:>12} {'ratio':>6}")
    for name, steps, seconds, compile_s, regret, classic in rows:
        print(f"{name:<20} {steps:>6} {seconds:>8.1f} {1000 * seconds / steps:>8.1f} {compile_s:>9.1f} {regret:>7.2f} "
              f"{classic:>12.2f} {regret / classic:>6.3f}")
    base = rows[0][2]
    print("time relative to the first: " + ", ".join(f"{n} {s / base:.2f}" for n, _, s, *_ in rows))


if __name__ == "__main__":
    main()
