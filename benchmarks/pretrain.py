"""Pretraining costs: dataset generation and training throughput per backbone.

    python benchmarks/pretrain.py [--tasks 100000] [--horizon 500] [--steps 10]

(1) Seconds to generate a DPT dataset of ``--tasks`` Bernoulli-bandit tasks
with ``--horizon``-step contexts (one vectorized rollout, copied to host), and
an AD dataset of Q-learning histories on Dark Room. (2) Training steps/s and
tokens/s (batch 128, context 100, 3 layers, width 64) for the transformer with
jax.nn.dot_product_attention (4 heads), with our einsum attention (4 and 2
heads) and for S5, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import time

import jax

import envs
from icrl.data import make_ad_dataset, make_dpt_dataset
from icrl.models import S5, TokenSpec, Transformer
from icrl.objectives import DPTObjective
from icrl.training import TrainConfig, Trainer


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--horizon", type=int, default=500)
    parser.add_argument("--ad-tasks", type=int, default=2_000)
    parser.add_argument("--ad-episodes", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind})")

    env, _ = envs.make("bernoulli-bandit", num_arms=5, horizon=args.horizon)
    make_dpt_dataset(env, jax.random.PRNGKey(0), 100, args.horizon)  # compile
    data, seconds = timed(lambda: make_dpt_dataset(env, jax.random.PRNGKey(1), args.tasks, args.horizon))
    gb = sum(v.nbytes for v in jax.tree.leaves(data.samples)) / 1e9
    print(f"DPT dataset: {args.tasks:,} tasks x {args.horizon} steps in {seconds:.1f}s ({gb:.2f} GB on host)")
    del data
    room, _ = envs.make("darkroom")
    make_ad_dataset(room, jax.random.PRNGKey(0), 10, args.ad_episodes)
    _, seconds = timed(lambda: make_ad_dataset(room, jax.random.PRNGKey(1), args.ad_tasks, args.ad_episodes))
    print(f"AD dataset: {args.ad_tasks:,} Q-learning histories x {args.ad_episodes} episodes of Dark Room in {seconds:.1f}s")

    env, _ = envs.make("bernoulli-bandit", num_arms=5, horizon=100)
    spec = TokenSpec.for_env(env)
    data = make_dpt_dataset(env, jax.random.PRNGKey(0), 5_000, 100)
    backbones = {
        "transformer, jax attention, 4 heads": Transformer(spec.token_dim, 5, max_len=100, num_layers=3, num_heads=4, width=64, attention="jax"),
        "transformer, einsum attention, 4 heads": Transformer(spec.token_dim, 5, max_len=100, num_layers=3, num_heads=4, width=64),
        "transformer, einsum attention, 2 heads": Transformer(spec.token_dim, 5, max_len=100, num_layers=3, num_heads=2, width=64),
        "s5 (state 64)": S5(spec.token_dim, 5, num_layers=3, width=64, state_size=64),
    }
    print(f"\ntraining step, batch {args.batch} x context 100 (best of {args.steps} steps)")
    rates = {}
    for name, model in backbones.items():
        trainer = Trainer(model, DPTObjective(spec), TrainConfig(batch_size=args.batch, num_devices=1))
        arrays = trainer.put_data(data.samples)
        state = trainer.init_state(arrays)
        state, loss = trainer.step(state, arrays)
        loss.block_until_ready()
        best = float("inf")
        for _ in range(args.steps):
            t0 = time.perf_counter()
            state, loss = trainer.step(state, arrays)
            loss.block_until_ready()
            best = min(best, time.perf_counter() - t0)
        rates[name] = best
        print(f"  {name:<42}{best:7.3f} s/step {1 / best:7.2f} steps/s {args.batch * 100 / best:>10,.0f} tokens/s")
    base = rates["transformer, jax attention, 4 heads"]
    for name, seconds in rates.items():
        print(f"  speed-up over jax attention, 4 heads: {name:<42}{base / seconds:5.2f}x")


if __name__ == "__main__":
    main()
