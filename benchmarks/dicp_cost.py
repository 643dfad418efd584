"""What DICP's planning costs: environment steps per second deployed, with planning off and with
beams of several widths and depths, measured side by side in one process.

    python benchmarks/dicp_cost.py [--preset darkroom9-dicp] [--widths 0 1 4 10] [--depths 4 8] [--tasks 160] [--episodes 2]

Every agent is the preset's model (untrained parameters: cost does not depend on what a model
learned) rolled out on ``--tasks`` held-out tasks for ``--episodes`` episodes, compiled first, then
timed in turns, best of ``--rounds``. Width 0 is the action head alone (AD's cost: one model step
per environment step); a plan of width W and depth D runs up to W x (D - 1) more, each attending to
the context's KV cache (shared by the beams) and to its beam's imagined steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.rollout import rollout  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import build  # noqa: E402
from train.methods.dicp.agent import DICPAgent  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="darkroom9-dicp")
    parser.add_argument("--widths", type=int, nargs="+", default=[0, 1, 4, 10])
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--tasks", type=int, default=160)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cfg = config_for(args.preset)
    setup = build(cfg)
    params = setup.model.init(jax.random.PRNGKey(0), jax.numpy.zeros((1, 2, setup.model.token_dim)), None)
    env = setup.eval_env
    agents = {}
    for width in args.widths:
        for depth in (args.depths if width else [0]):
            agents[(width, depth)] = DICPAgent(params, setup.model, setup.spec, width=width, depth=depth, horizon=env.horizon,
                                               size=cfg.size)
    tasks = env.sample_tasks(jax.random.PRNGKey(1), args.tasks, "test")
    steps = args.episodes * env.horizon
    deploy = lambda agent, key: rollout(env, agent, tasks, key, num_steps=steps).reward  # noqa: E731
    for agent in agents.values():
        jax.block_until_ready(deploy(agent, jax.random.PRNGKey(2)))  # compiles
    best = dict.fromkeys(agents, float("inf"))
    for r in range(args.rounds):
        for name, agent in agents.items():
            t0 = time.perf_counter()
            jax.block_until_ready(deploy(agent, jax.random.PRNGKey(3 + r)))
            best[name] = min(best[name], time.perf_counter() - t0)
    base = best[(0, 0)] if (0, 0) in best else None
    print(f"{args.preset}: {args.tasks} tasks x {steps} steps deployed, context {setup.model.max_len} steps, "
          f"{jax.device_count()} device(s)")
    print(f"  {'width':>5} {'depth':>5} {'env steps/s':>11} {'time x planning off':>19}")
    for (width, depth), seconds in best.items():
        ratio = f"{seconds / base:.1f}" if base else "-"
        print(f"  {width:>5} {depth:>5} {args.tasks * steps / seconds:>11.0f} {ratio:>19}", flush=True)


if __name__ == "__main__":
    main()
