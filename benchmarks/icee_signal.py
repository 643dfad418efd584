"""What ICEE's in-episode condition tells the model about the action, under the unbiasing weights.

    python benchmarks/icee_signal.py [--presets darkroom9-icee keydoor9-icee keydoor9-icee-time] [--tasks 1000]

For each preset's ε-oracle data (its own settings, ``--tasks`` training-split tasks), the
positions are split by the no-shortfall condition (the rest of the episode as good as the
step's state allows), and those with no shortfall by whether any reward is left to collect
(where none is, every action is as good); printed for each part: its share of positions, and
how often the action taken there was the oracle's, plain and weighted by ``uniform(a) / π(a | o)``
(clipped as the preset clips). The weighted figure is the oracle action's probability in the target the
unbiased objective fits for that condition (given the rest of the token alike): near uniform
(1 / actions), the condition says nothing about which action is good.

Also printed: in which episode each task's first reward comes, with the episodes in the order they
were drawn. A window whose acting episode has several failed episodes before it, as a deployed
agent's first episodes have, is only as common as late first rewards are (the reason Dark Room's
presets sort each task's episodes by decreasing ε: docs/icee.md).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from train.configs import config_for  # noqa: E402
from train.experiments import build  # noqa: E402
from train.methods.icee.data import make_icee_dataset  # noqa: E402
from train.methods.icee.objective import unbiasing_weights  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["darkroom9-icee", "keydoor9-icee", "keydoor9-icee-time"])
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    for preset in args.presets:
        cfg = config_for(preset)
        env, m = build(cfg).env, cfg.method
        data = make_icee_dataset(env, jax.random.PRNGKey(0), args.tasks, m.icee_episodes, max_epsilon=m.max_epsilon,
                                 min_epsilon=m.min_epsilon, skew=m.random_skew, time_shortfall=m.time_shortfall)
        if m.random_skew != 1.0:
            raise SystemExit(f"{preset}: skewed random actions (random_skew={m.random_skew}) hide which action was the oracle's")
        behaviour = np.asarray(data.extras["behaviour"])
        epsilon = np.repeat(np.asarray(data.extras["epsilon"]), env.horizon, axis=1)
        n = env.num_actions
        oracle = behaviour > epsilon / n + 1e-5  # the oracle's action has probability 1 - ε + ε / n, any other ε / n
        weights = np.minimum(np.asarray(unbiasing_weights(behaviour, n)), m.weight_clip)
        conditions = np.asarray(data.extras["conditions"])
        rewards = np.asarray(data.history.reward).reshape(args.tasks, -1, env.horizon)
        to_go = np.flip(np.cumsum(np.flip(rewards, -1), -1), -1).reshape(args.tasks, -1)
        left = conditions[..., 1] * env.horizon + to_go > 0.5  # the best return to go (shortfall + return to go) is not 0
        best = conditions[..., 0] > 0.5
        first = np.argmax(rewards.sum(-1) > 0, axis=1)
        first[rewards.sum((1, 2)) == 0] = rewards.shape[1]
        share = np.bincount(first, minlength=rewards.shape[1] + 1) / args.tasks
        print(f"{preset}, first reward (episodes in drawn order): episode 1 {share[0]:.3f}, 2 {share[1]:.3f}, 3 {share[2]:.3f}, "
              f"later {share[3:-1].sum():.3f}, never in {rewards.shape[1]} {share[-1]:.3f}", flush=True)
        for name, part in (("no shortfall, reward left", best & left), ("no shortfall, none left", best & ~left),
                           ("shortfall", ~best)):
            print(f"{preset}, {name}: {part.mean():.3f} of positions; the oracle's action {oracle[part].mean():.3f} of them, "
                  f"{np.sum(weights[part] * oracle[part]) / np.sum(weights[part]):.3f} weighted (uniform {1 / n:.3f})", flush=True)


if __name__ == "__main__":
    main()
