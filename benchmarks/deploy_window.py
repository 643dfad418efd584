"""How a trained run's model fares deployed past its training context, one way against another, on
training-split tasks (the split settings are chosen on): one context over every step (a transformer's
window sliding step by step, a recurrent state spanning everything) against windows of whole episodes
(``--deploy-window N``: two contexts restarted in turn every N episodes, the older acting).

    python benchmarks/deploy_window.py RUN_DIR [RUN_DIR ...] [--windows 0 10] [--pool-sample 0] [--tasks 130]

Prints, per run and window, the fraction of optimal at episodes 1, 5, 10, 20 and the last, the best
episode and the mean over the episodes past the training context. Each evaluation also leaves
``RUN_DIR/results_eval_train.json`` (the last window's). The runs' own settings are kept otherwise;
``--pool-sample`` evaluates that many of the split's goals (0: every goal), ``--tasks`` rollouts spread
over them.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def summary(fractions, context_episodes: int) -> str:
    f = np.asarray(fractions)
    marks = " ".join(f"{f[i]:5.2f}" for i in (0, 4, 9, 19) if i < len(f))
    past = f[context_episodes:].mean() if len(f) > context_episodes else float("nan")
    return f"{marks} {f[-1]:5.2f} | best {f.max():.2f} at {int(f.argmax()) + 1:2d} | past context {past:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--windows", nargs="+", type=int, default=[0, 10], help="deploy_window values, in episodes")
    parser.add_argument("--pool-sample", type=int, default=0, help="training-split goals to evaluate on (0: all)")
    parser.add_argument("--tasks", type=int, default=130, help="rollouts, spread over the goals")
    args = parser.parse_args()
    for run in args.runs:
        if not os.path.exists(os.path.join(run, "results.json")):
            raise SystemExit(f"no results.json in {run!r}: give the directory of a finished run")
    from train.experiments import evaluate_run

    print(f"training-split tasks, fraction of optimal at episodes 1 5 10 20 last; windows {args.windows} (0: one context)")
    for run in args.runs:
        for window in args.windows:
            results = evaluate_run(run, eval_split="train", eval_tasks=args.tasks, eval_pool_sample=args.pool_sample,
                                   baselines=("random",), deploy_window=window)
            episodes = results["config"]["context_episodes"]
            for name, method in results["methods"].items():
                if name != "random":
                    print(f"{os.path.basename(os.path.normpath(run)):28s} window {window:2d}  {name:8s} "
                          f"{summary(method['episode_fraction'], episodes)}", flush=True)


if __name__ == "__main__":
    main()
