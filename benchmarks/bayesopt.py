"""ICEE doing Bayesian optimisation in context against GP expected improvement: simple regret per query and wall time per query.

    python benchmarks/bayesopt.py [--presets bayesopt-icee bayesopt-icee-noweights] [--seeds 0 1 2] [--tasks 1000]
                                  [--split test] [--plot docs/bayesopt.png]

Each preset's run of each seed (``runs/compare/PRESET-seedK``, trained first where missing, as
``python -m train PRESET --seed K`` would) is deployed on the same ``--tasks`` functions of
``--split`` with the same keys as GP expected improvement (the exact posterior under the tasks'
own prior, ``max_queries`` = the number of queries) and random search (``--untrained``: freshly
initialised models, for the wall times alone). Printed: simple regret
(the grid's maximum less the best value found) after 10, 25 and 50 queries, mean over seeds with
a Student-t 95% interval across seeds (GP-EI and random are drawn with each seed's keys too);
and the wall time of one query, every agent on the whole batch of functions at once (compiled
first, then best of ``--rounds`` timed rollouts, in turns), both per batch step and per function.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.agents import make_agent  # noqa: E402
from icrl.metrics import mean_ci95_t  # noqa: E402
from icrl.rollout import rollout, simple_regret  # noqa: E402
from icrl.runs import load_model  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import build, run, saved_results  # noqa: E402

OUT = os.path.join("runs", "compare")
CHECKPOINTS = (10, 25, 50)


def trained_agent(preset: str, seed: int, out_dir: str, untrained: bool = False):
    """``(config, environment, deployed agent)`` of ``preset``'s run of ``seed`` (trained first where there is
    none), or of its freshly initialised model (``untrained``: for the cost alone, which does not depend on
    what a model learned)."""
    cfg = config_for(preset, seed=seed, out_dir=out_dir)
    setup = build(cfg)
    if untrained:
        model = setup.model
        params = model.init(jax.random.PRNGKey(seed), jax.numpy.zeros((1, 2, setup.spec.token_dim)))
    else:
        name = f"{preset}-seed{seed}"
        if saved_results(cfg, name) is None:
            run(cfg, name)
        model, params, _ = load_model(os.path.join(out_dir, name))
    (agent,) = cfg.method_def.agents(cfg, params, model, setup.spec).values()
    return cfg, setup.eval_env, agent


def timed(env, agent, tasks, key, steps: int, rounds: int):
    """``(history, best seconds of a rollout)``, compiled before timing."""
    history = jax.block_until_ready(rollout(env, agent, tasks, key, num_steps=steps))
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(rollout(env, agent, tasks, key, num_steps=steps))
        best = min(best, time.perf_counter() - t0)
    return history, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["bayesopt-icee", "bayesopt-icee-noweights"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out-dir", default=OUT)
    parser.add_argument("--plot", default=None, help="draw every agent's simple regret per query here")
    parser.add_argument("--untrained", action="store_true", help="deploy freshly initialised models: the wall times alone")
    args = parser.parse_args()
    regrets, seconds, env = {}, {}, None
    for seed in args.seeds:
        agents = {}
        for preset in args.presets:
            cfg, env, agents[preset] = trained_agent(preset, seed, args.out_dir, args.untrained)
        steps = cfg.eval_episodes * env.horizon
        agents["gp-ei"] = make_agent("gp-ei", env, max_queries=steps)
        agents["random"] = make_agent("random", env)
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 99)
        tasks = env.sample_tasks(jax.random.fold_in(key, 0), args.tasks, args.split)
        for name, agent in agents.items():
            history, s = timed(env, agent, tasks, jax.random.fold_in(key, 1), steps, args.rounds)
            regrets.setdefault(name, []).append(np.asarray(simple_regret(history)).mean(0))
            seconds.setdefault(name, []).append(s / steps)
    print(f"{args.tasks} {args.split}-split functions of a {env.size} x {env.size} grid, seeds {args.seeds}; simple regret "
          "(mean over seeds ± Student-t 95% interval across seeds) and wall time per query (best, all functions at once)")
    head = [f"after {q}" for q in CHECKPOINTS]
    print("| agent | " + " | ".join(head) + " | ms per query (batch) | µs per query per function |")
    print("|" + " --- |" * (len(head) + 3))
    for name, curves in regrets.items():
        curves = np.stack(curves)
        cells = []
        for q in CHECKPOINTS:
            mean, ci = mean_ci95_t(curves[:, q - 1])
            cells.append(f"{float(mean):.4f}" + (f" ± {float(ci):.4f}" if len(curves) > 1 else ""))
        per_step = float(np.min(seconds[name]))
        print(f"| {name} | " + " | ".join(cells) + f" | {per_step * 1e3:.2f} | {per_step / args.tasks * 1e6:.1f} |")
    gp = np.stack(regrets["gp-ei"])[:, -1]
    for preset in args.presets:
        ratio = np.stack(regrets[preset])[:, -1] / gp
        speed = np.min(seconds["gp-ei"]) / np.min(seconds[preset])
        print(f"{preset}: simple regret after {CHECKPOINTS[-1]} queries {float(ratio.mean()):.2f}x GP-EI's (per seed "
              + ", ".join(f"{r:.2f}" for r in ratio) + f"); a query takes 1/{speed:.1f} of GP-EI's time")
    if args.plot:
        plot(regrets, args.plot, f"simple regret on {args.tasks} {args.split}-split functions, {len(args.seeds)} seed(s)")


def plot(regrets: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=90)
    for name, curves in regrets.items():
        mean, ci = mean_ci95_t(np.stack(curves))
        x = np.arange(1, len(mean) + 1)
        (line,) = ax.plot(x, mean, label=name)
        ax.fill_between(x, mean - ci, mean + ci, color=line.get_color(), alpha=0.15)
    ax.set(xlabel="query", ylabel="simple regret", yscale="log", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
