"""Pretraining costs: dataset generation and training throughput per backbone.

    python benchmarks/pretrain.py [--tasks 100000] [--horizon 500] [--steps 10]

(1) Seconds to generate a DPT dataset of ``--tasks`` Bernoulli-bandit tasks
with ``--horizon``-step contexts (one vectorized rollout, copied to host), and
an AD dataset of Q-learning histories on Dark Room. (2) Training steps/s and
tokens/s (batch 128, context 101: bandit-dpt's size, 3 layers, width 64) for the
transformer with jax.nn.dot_product_attention and with our einsum attention,
with each position encoding (alibi, rotary, learned), with the non-finite guard
off, and for S5, measured side by side in one run, interleaved over ``--rounds``
rounds (best step of each). (3) The same step per number of devices, 1 up to
every device jax sees (CPU: ``XLA_FLAGS=--xla_force_host_platform_device_count=N``).
"""

from __future__ import annotations

import argparse
import time

import jax

import envs
from icrl.models import S5, TokenSpec, Transformer
from icrl.training import TrainConfig, Trainer
from train.methods.ad.data import make_ad_dataset
from train.methods.dpt.data import make_dpt_dataset
from train.methods.dpt.objective import DPTObjective


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
    parser.add_argument("--rounds", type=int, default=3)
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
    tf = dict(token_dim=spec.token_dim, num_outputs=5, max_len=101, num_layers=3, width=64)
    variants = {
        "transformer alibi, 2 heads (preset)": (Transformer(**tf, num_heads=2), {}),
        "transformer alibi, 2 heads, no guard": (Transformer(**tf, num_heads=2), {"nonfinite_guard": False}),
        "transformer rotary, 2 heads": (Transformer(**tf, num_heads=2, position_encoding="rotary"), {}),
        "transformer learned, 2 heads": (Transformer(**tf, num_heads=2, position_encoding="learned"), {}),
        "transformer alibi, 4 heads": (Transformer(**tf, num_heads=4), {}),
        "transformer alibi, 4 heads, jax attention": (Transformer(**tf, num_heads=4, attention="jax"), {}),
        "s5 (state 64)": (S5(spec.token_dim, 5, num_layers=3, width=64, state_size=64), {}),
    }
    print(f"\ntraining step, batch {args.batch} x context 101 (best of {args.steps} steps x {args.rounds} rounds)")
    steppers = {name: _stepper(model, spec, data, args.batch, 1, **kw) for name, (model, kw) in variants.items()}
    best = {name: float("inf") for name in steppers}
    for _ in range(args.rounds):  # interleaved, so a noisy neighbour slows every variant alike
        for name, run in steppers.items():
            best[name] = min(best[name], run(args.steps))
    for name, seconds in best.items():
        print(f"  {name:<44}{seconds:7.3f} s/step {1 / seconds:7.2f} steps/s {args.batch * 101 / seconds:>10,.0f} tokens/s")
    base = best["transformer alibi, 2 heads (preset)"]
    for name, seconds in best.items():
        print(f"  time per step relative to the preset: {name:<44}{seconds / base:5.2f}x")

    print(f"\nper number of devices ({jax.default_backend()}), transformer alibi, 2 heads, global batch {args.batch}")
    for count in range(1, len(jax.devices()) + 1):
        if args.batch % count:
            continue
        seconds = min(_stepper(Transformer(**tf, num_heads=2), spec, data, args.batch, count)(args.steps) for _ in range(args.rounds))
        print(f"  {count} device(s): {1 / seconds:7.2f} steps/s {args.batch * 101 / seconds:>10,.0f} tokens/s")


def _stepper(model, spec, data, batch: int, devices: int, **train_kw):
    """A function running ``n`` training steps and returning the best seconds per step."""
    trainer = Trainer(model, DPTObjective(spec), TrainConfig(batch_size=batch, num_devices=devices, **train_kw))
    arrays = trainer.put_data(data.samples)
    box = {"state": trainer.init_state()}
    box["state"], loss = trainer.step(box["state"], arrays)
    loss.block_until_ready()

    def run(n: int) -> float:
        best = float("inf")
        for _ in range(n):
            t0 = time.perf_counter()
            box["state"], loss = trainer.step(box["state"], arrays)
            loss.block_until_ready()
            best = min(best, time.perf_counter() - t0)
        return best

    return run


if __name__ == "__main__":
    main()
