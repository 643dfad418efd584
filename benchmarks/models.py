"""Sequence-model costs: rollout step vs context length, and training throughput.

    python benchmarks/models.py [--lengths 100 500 1000 4000] [--batch 8]

(a) Seconds per in-context rollout step at context length L for a batch of
tasks: transformer recomputing the whole prefix, transformer with its KV cache
(sized L), S5's O(1) recurrent step. (b) Training throughput (tokens/s of a
forward+backward pass) per backbone at about equal parameter counts.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from icrl.models import S5, Transformer

TOKEN_DIM, OUT = 16, 5


def best_time(fn, *args, repeats=5) -> float:
    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def num_params(params) -> int:
    return sum(x.size for x in jax.tree.leaves(params))


def step_cost(model, params, batch, steps=32) -> float:
    """Seconds per step of a scanned rollout of ``steps`` steps from a fresh carry."""
    tokens = jax.random.normal(jax.random.PRNGKey(0), (steps, batch, TOKEN_DIM))

    @jax.jit
    def run(params, tokens):
        def body(carry, tok):
            return model.apply(params, carry, tok, None, method="step")

        return jax.lax.scan(body, model.init_carry(batch), tokens)[1]

    return best_time(run, params, tokens) / steps


def recompute_cost(model, params, batch, length) -> float:
    tokens = jax.random.normal(jax.random.PRNGKey(0), (batch, length, TOKEN_DIM))
    fn = jax.jit(lambda p, x: model.apply(p, x, None, method="step_without_cache"))
    return best_time(fn, params, tokens, repeats=3)


def train_throughput(model, params, batch, length) -> float:
    tokens = jax.random.normal(jax.random.PRNGKey(0), (batch, length, TOKEN_DIM))
    labels = jax.random.randint(jax.random.PRNGKey(1), (batch, length), 0, OUT)

    @jax.jit
    def grad(p):
        def loss(p):
            logits = model.apply(p, tokens)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], -1))

        return jax.grad(loss)(p)

    return batch * length / best_time(grad, params, repeats=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 500, 1000, 4000])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-lengths", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--s5-width", type=int, default=192, help="S5 width chosen to match the transformer's parameter count")
    args = parser.parse_args()
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind}); batch {args.batch}, {args.layers} layers")
    dummy = jnp.zeros((1, 4, TOKEN_DIM))
    s5 = S5(TOKEN_DIM, OUT, num_layers=args.layers, width=args.s5_width, state_size=64)
    s5_params = s5.init(jax.random.PRNGKey(0), dummy)
    print(f"\n(a) seconds per rollout step (batch {args.batch})")
    print(f"{'context':>8} {'recompute':>12} {'kv-cache':>12} {'s5 step':>12} {'cache/s5':>9} {'recomp/cache':>13}")
    train_rows = []
    for length in args.lengths:
        tf = Transformer(TOKEN_DIM, OUT, max_len=length, num_layers=args.layers, num_heads=4, width=args.width)
        tf_params = tf.init(jax.random.PRNGKey(0), dummy)
        full = recompute_cost(tf, tf_params, args.batch, length)
        cached = step_cost(tf, tf_params, args.batch)
        rec = step_cost(s5, s5_params, args.batch)
        print(f"{length:>8} {full:>12.2e} {cached:>12.2e} {rec:>12.2e} {cached / rec:>8.1f}x {full / cached:>12.1f}x", flush=True)
    for length in args.train_lengths:
        tf = Transformer(TOKEN_DIM, OUT, max_len=length, num_layers=args.layers, num_heads=4, width=args.width)
        tf_params = tf.init(jax.random.PRNGKey(0), dummy)
        train_rows.append((length, train_throughput(tf, tf_params, args.train_batch, length), train_throughput(s5, s5_params, args.train_batch, length)))
    tf_count = num_params(Transformer(TOKEN_DIM, OUT, max_len=1000, num_layers=args.layers, width=args.width).init(jax.random.PRNGKey(0), dummy))
    print(f"\n(b) training tokens/s (forward+backward, batch {args.train_batch}); parameters: "
          f"transformer {tf_count:,} (at max_len 1000), s5 {num_params(s5_params):,}")
    print(f"{'length':>8} {'transformer':>14} {'s5':>14}")
    for length, tf_rate, s5_rate in train_rows:
        print(f"{length:>8} {tf_rate:>14,.0f} {s5_rate:>14,.0f}")


if __name__ == "__main__":
    main()
