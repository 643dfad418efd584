"""Regret and return plots from ``results.json`` files; also a command line.

    python -m icrl.plot runs/bandit-dpt/results.json [runs/bandit-dpt-s5/results.json ...]
        [-o plot.png] [--log] [--methods DPT thompson] [--width 7 --height 4.5]

One line per method with a shaded 95% confidence interval: cumulative regret
against step for bandits, return against episode (with the optimal return
dashed) for grid worlds. Several files are overlaid (e.g. transformer vs S5);
a method already drawn from an earlier file is not drawn again.
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

import numpy as np

from icrl.results import REGRET, kind, load_results

def curves(runs: Sequence[dict], labels: Sequence[str], key: str, methods: Sequence[str] | None = None):
    """``(legend, mean, ci95)`` of every curve to draw: each run's methods, labelled by run when
    there are several; a curve several runs share exactly (a baseline on the same tasks and
    keys) is drawn once, a method whose curves differ (the same model name in two runs) is not."""
    drawn, out = set(), []
    for run, label in zip(runs, labels):
        for name, m in run["methods"].items():
            curve = (name, tuple(m[key]))
            if curve in drawn or (methods is not None and name not in methods):
                continue
            drawn.add(curve)
            shown = name if len(runs) == 1 else f"{name} ({label})"
            out.append((shown, np.asarray(m[key]), np.asarray(m[key + "_ci95"])))
    return out


def plot_results(
    results: dict | Sequence[dict],
    path: str,
    labels: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    log_scale: bool = False,
    size: tuple[float, float] = (6.4, 4.2),
    dpi: int = 120,
    title: str | None = None,
) -> str:
    """Draw one or several results dicts into ``path`` (format from its suffix: png, svg, pdf)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = [results] if isinstance(results, dict) else list(results)
    if not runs:
        raise ValueError("nothing to plot: no results given")
    env_names = {r["env"]["name"] for r in runs}
    if len(env_names) > 1:
        raise ValueError(f"cannot overlay results of different environments: {sorted(env_names)}")
    kinds = {kind(r) for r in runs}
    if len(kinds) > 1:
        raise ValueError("cannot overlay bandit regret with grid-world returns")
    drawn_kind = kinds.pop()
    available = [m for r in runs for m in r["methods"]]
    if methods is not None:
        unknown = [m for m in methods if m not in available]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; these results have {sorted(set(available))}")
    labels = list(labels) if labels is not None else [r.get("experiment", f"run {i}") for i, r in enumerate(runs)]

    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    key = "cumulative_regret" if drawn_kind == REGRET else "episode_return"
    for shown, mean, ci in curves(runs, labels, key, methods):
        x = np.arange(1, len(mean) + 1)
        (line,) = ax.plot(x, mean, label=shown, lw=1.8)
        ax.fill_between(x, mean - ci, mean + ci, color=line.get_color(), alpha=0.2, lw=0)
    if drawn_kind == REGRET:
        ax.set_xlabel("step")
        ax.set_ylabel("cumulative regret")
    else:
        ax.set_xlabel("episode")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("return per episode")
        optimal = runs[0].get("optimal_return")
        if optimal is not None:
            ax.axhline(optimal, color="k", ls="--", lw=1, label="optimal")
    if log_scale:
        ax.set_yscale("log" if drawn_kind == REGRET else "symlog")
    ax.set_title(title or describe(runs[0]), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


#: Environment names as a plot's title says them.
ENV_WORDS = {"bernoulli-bandit": "Bernoulli bandit", "gaussian-bandit": "Gaussian bandit", "linear-bandit": "linear bandit",
             "darkroom": "Dark Room", "keydoor": "Dark Key-to-Door"}


def describe(results: dict) -> str:
    """The evaluation of ``results`` in words, e.g. "Dark Room 7×7, 49-step episodes — 9 held-out
    goals × 23 keys" or "Bernoulli bandit, 5 arms, 100 pulls — 1,000 held-out tasks"."""
    env = results["env"]
    kwargs = env.get("kwargs") or {}
    name = ENV_WORDS.get(env["name"], env["name"])
    split = "held-out" if results.get("split", "test") == "test" else "training-split"
    horizon = env.get("horizon") or kwargs.get("horizon")
    if kind(results) == REGRET:
        arms = kwargs.get("num_arms") or env.get("num_actions")
        what = f"{name}, {arms} arms" + (f", {horizon} pulls" if horizon else "")
    else:
        size = kwargs.get("size")
        what = name + (f" {size}×{size}" if size else "") + (f", {horizon}-step episodes" if horizon else "")
    goals, tasks = results.get("num_goals"), results["num_tasks"]
    if goals:
        return f"{what} — {goals} {split} goals × {tasks // goals} keys"
    return f"{what} — {tasks:,} {split} tasks"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m icrl.plot", description="Plot or overlay icrl results files.")
    parser.add_argument("results", nargs="+", help="results.json files")
    parser.add_argument("-o", "--output", default="plot.png", help="output file; .png, .svg or .pdf")
    parser.add_argument("--labels", nargs="+", help="one label per results file")
    parser.add_argument("--methods", nargs="+", help="only these methods")
    parser.add_argument("--log", action="store_true", help="log-scale y axis")
    parser.add_argument("--width", type=float, default=6.4)
    parser.add_argument("--height", type=float, default=4.2)
    parser.add_argument("--dpi", type=int, default=120)
    args = parser.parse_args(argv)
    try:
        runs = [load_results(p) for p in args.results]
        if args.labels is not None and len(args.labels) != len(runs):
            raise ValueError(f"{len(args.labels)} labels for {len(runs)} results files")
        path = plot_results(runs, args.output, args.labels, args.methods, args.log, (args.width, args.height), args.dpi)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    print(path)


if __name__ == "__main__":
    main()
