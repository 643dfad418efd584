"""Learning-history filtering (LHF) on Dark Room AD: with and without, on a noisy and a clean source.

    python benchmarks/lhf.py [--seeds 0] [--noisy-fraction 0.5] [--noise-epsilon 1.0] [--keep 0.75]
                             [--train-steps N] [--split test|train]

Four darkroom-ad runs per seed, each with the same seed (same tasks, same keys, same
training batches apart from which histories are drawn):

- ``noisy``: ``--noisy-fraction`` of the PSRL learning histories come from a degraded
  learner, PSRL acting at random with a probability drawn per history from
  ``[0, --noise-epsilon]`` (it still learns from what it sees);
- ``clean``: the darkroom-ad preset's source as it is;

each trained on the plain data and with LHF (histories drawn in proportion to
``Improvement + λ·Stability``, the lowest ``1 - --keep`` left out; ``icrl.data.lhf_scores``).
Printed: per seed, the last-episode return on the held-out goals with its 95% interval over
rollouts, the ratio LHF / plain, whether the intervals overlap, and how LHF weighed
degraded against clean histories (``--plot``: the return curves, mean over seeds); with several seeds, the means and ratios with Student-t
intervals across seeds (the figures to quote: seed-to-seed spread is far larger than the
spread over one model's rollouts). Runs go to ``runs/bench-ad`` and their results are reused
when their config is unchanged. The settings were fixed before any run; nothing here was
chosen on held-out goals.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
from icrl.data import load_dataset  # noqa: E402
from icrl.metrics import mean_ci95_t  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import run, saved_results  # noqa: E402

OUT = os.path.join("runs", "bench-ad")  # shared with benchmarks/moe.py: its dense run is clean-plain


def last_episode(results: dict) -> tuple[float, float]:
    method = next(m for m in results["methods"] if m.startswith("AD"))
    m = results["methods"][method]
    return m["episode_return"][-1], m["episode_return_ci95"][-1]


def weight_report(run_dir: str, cfg) -> str:
    env, _ = envs.make(cfg.env, **cfg.env_kwargs())
    data = load_dataset(os.path.join(run_dir, "dataset.npz"), env, "ad")
    weight = np.asarray(data.extras["lhf_weight"])
    if "noisy" not in data.extras:
        return f"mean weight {weight.mean():.3f}, {np.mean(weight == 0):.0%} filtered out"
    noisy = np.asarray(data.extras["noisy"])
    share = weight[noisy].sum() / weight.sum()
    return (f"degraded histories: mean weight {weight[noisy].mean():.3f} vs clean {weight[~noisy].mean():.3f}; "
            f"share of draws {share:.0%} (plain: {noisy.mean():.0%}); filtered out: {np.mean(weight[noisy] == 0):.0%} "
            f"of degraded, {np.mean(weight[~noisy] == 0):.0%} of clean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--noisy-fraction", type=float, default=0.5)
    parser.add_argument("--noise-epsilon", type=float, default=1.0)
    parser.add_argument("--keep", type=float, default=0.75, help="LHF: fraction of histories kept")
    parser.add_argument("--stability", type=float, default=1.0, help="LHF: lambda, the weight of stability")
    parser.add_argument("--train-steps", type=int, default=None, help="default: the darkroom-ad preset's")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="goals to evaluate on")
    parser.add_argument("--sources", nargs="+", choices=("noisy", "clean"), default=["noisy", "clean"])
    parser.add_argument("--plot", default=None, help="draw the return curves to this file (e.g. docs/lhf_darkroom_ad.png)")
    args = parser.parse_args()
    sources = {"noisy": dict(noisy_fraction=args.noisy_fraction, noise_epsilon=args.noise_epsilon), "clean": {}}
    rows, curves = {}, {}
    for seed in args.seeds:
        for source in args.sources:
            for lhf in (False, True):
                changes = dict(sources[source], seed=seed, out_dir=OUT, baselines=("psrl",), eval_split=args.split)
                if args.train_steps:
                    changes["train_steps"] = args.train_steps
                if lhf:
                    changes.update(lhf=True, lhf_keep=args.keep, lhf_stability=args.stability)
                cfg = config_for("darkroom-ad", **changes)
                name = f"{source}-{'lhf' if lhf else 'plain'}-seed{seed}"
                results = saved_results(cfg, name) or run(cfg, name, progress=False)
                curves[(seed, source, lhf)] = (results["methods"][next(m for m in results["methods"] if m.startswith("AD"))]
                                               ["episode_return"], results["methods"]["psrl"]["episode_return"],
                                               results["optimal_return"])
                rows[(seed, source, lhf)] = (last_episode(results), results["methods"]["psrl"]["episode_return"][-1],
                                             results["optimal_return"],
                                             weight_report(os.path.join(OUT, name), cfg) if lhf else "")
    print(f"\nDark Room AD ({args.split} goals), last-episode return, mean ± 95% interval over rollouts")
    summary = []
    for seed in args.seeds:
        for source in args.sources:
            (plain, plain_ci), psrl, optimal, _ = rows[(seed, source, False)]
            (filtered, filtered_ci), _, _, weights = rows[(seed, source, True)]
            overlap = abs(filtered - plain) <= plain_ci + filtered_ci
            ratio = filtered / plain
            print(f"seed {seed} {source:>5}: plain {plain:6.2f} ± {plain_ci:4.2f}   LHF {filtered:6.2f} ± {filtered_ci:4.2f}   "
                  f"LHF/plain {ratio:.3f}  intervals {'overlap' if overlap else 'apart'}   (PSRL {psrl:.2f}, optimal {optimal:.2f})")
            print(f"    LHF weights: {weights}")
            summary.append(dict(seed=seed, source=source, plain=plain, plain_ci95=plain_ci, lhf=filtered, lhf_ci95=filtered_ci,
                                ratio=ratio, overlap=bool(overlap), psrl=psrl, optimal=optimal))
    if len(args.seeds) > 1:
        print(f"\nover {len(args.seeds)} training seeds (mean ± Student-t 95% interval across seeds):")
        for source in args.sources:
            rows_ = [r for r in summary if r["source"] == source]
            figures = {k: mean_ci95_t(np.array([r[k] for r in rows_])) for k in ("plain", "lhf", "ratio")}
            print(f"{source:>5}: plain {figures['plain'][0]:.2f} ± {figures['plain'][1]:.2f}   LHF {figures['lhf'][0]:.2f} ± "
                  f"{figures['lhf'][1]:.2f}   LHF/plain {figures['ratio'][0]:.2f}x ± {figures['ratio'][1]:.2f}   per seed: "
                  + ", ".join(f"{r['ratio']:.2f}x" for r in rows_))
    print(json.dumps(summary))
    if args.plot:
        plot(args.plot, curves, args.seeds, args.sources, args.split)


def plot(path: str, curves: dict, seeds, sources, split: str) -> None:
    """Per source, AD's return per episode with and without LHF (mean over seeds, Student-t 95% band
    across seeds) beside PSRL's, in units of the optimal return."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sources), figsize=(4.6 * len(sources), 3.4), dpi=90, squeeze=False)
    for ax, source in zip(axes[0], sources):
        for lhf, label in ((False, "AD"), (True, "AD + LHF")):
            frac = np.array([np.asarray(curves[(s, source, lhf)][0]) / curves[(s, source, lhf)][2] for s in seeds])
            mean, ci = mean_ci95_t(frac)
            x = np.arange(1, len(mean) + 1)
            (line,) = ax.plot(x, mean, label=label)
            ax.fill_between(x, mean - ci, mean + ci, color=line.get_color(), alpha=0.2, lw=0)
        psrl = np.mean([np.asarray(curves[(s, source, False)][1]) / curves[(s, source, False)][2] for s in seeds], axis=0)
        ax.plot(np.arange(1, len(psrl) + 1), psrl, "k--", lw=1, label="PSRL")
        ax.set(title=f"{source} source, {len(seeds)} seed(s), {'held-out' if split == 'test' else 'training'} goals",
               xlabel="episode in context", ylabel="return / optimal", ylim=(0, 1.05))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
