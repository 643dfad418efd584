"""The S5 layer's real-valued projections against the complex products they replace, side by side.

    python benchmarks/s5_layer.py [--batch 64] [--length 200] [--width 64] [--state 64] [--layers 2] [--rounds 8]

An S5 layer's input ``B u`` and output ``2 Re(C x)`` take a real ``u`` and give a real output:
the layer computes each as one real matrix product (``[Re B; Im B]`` and ``[Re C, -Im C]``)
rather than as a complex product of a complex-cast ``u``, which costs twice the multiplies and
a complex gradient. This script times one forward and backward of an S5 stack (meta-RL's
policy size by default: darkroom9-rl2-s5, 64 trials of 200 steps, one PPO minibatch) with
the package's layer and with the complex products patched back in, in turns over
``--rounds`` rounds, and prints the medians, their ratio and the largest difference in the
loss and gradients (the same function to float rounding).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from train.devices import use_every_core  # noqa: E402

use_every_core()  # the devices a training run makes, before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from icrl.models import S5  # noqa: E402
from icrl.models.s5 import S5SSM  # noqa: E402


def complex_input(self, b_bar, u):
    return jnp.einsum("ph,...h->...p", b_bar, u.astype(jnp.complex64))


def complex_output(self, states, u):
    c = self.c[..., 0] + 1j * self.c[..., 1]
    return 2.0 * jnp.einsum("hp,...p->...h", c, states).real + self.d * u


def compiled_grad(model, tokens, resets, patched: bool):
    """The jitted loss-and-gradient function, traced (and compiled) with or without the complex products."""
    saved = S5SSM._input, S5SSM._output
    if patched:
        S5SSM._input, S5SSM._output = complex_input, complex_output
    try:
        fn = jax.jit(jax.value_and_grad(lambda p: jnp.mean(jnp.square(model.apply(p, tokens, resets)))))
        fn = fn.lower(model.init(jax.random.PRNGKey(1), tokens[:1, :2])).compile()
    finally:
        S5SSM._input, S5SSM._output = saved
    return fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--state", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--token-dim", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    model = S5(args.token_dim, 5, num_layers=args.layers, width=args.width, state_size=args.state)
    tokens = jax.random.normal(jax.random.PRNGKey(0), (args.batch, args.length, args.token_dim))
    resets = jax.random.bernoulli(jax.random.PRNGKey(2), 0.02, (args.batch, args.length)).at[:, 0].set(True)
    params = model.init(jax.random.PRNGKey(1), tokens[:1, :2])
    fns = {"real products": compiled_grad(model, tokens, resets, False),
           "complex products": compiled_grad(model, tokens, resets, True)}
    outs = {name: fn(params) for name, fn in fns.items()}
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(outs["real products"]),
                                                             jax.tree.leaves(outs["complex products"])))
    times = {name: [] for name in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(params))
            times[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(t)) * 1000 for name, t in times.items()}
    print(f"S5 {args.layers} x width {args.width}, state {args.state}, batch {args.batch} x {args.length} steps, forward and "
          f"backward, {jax.device_count()} host devices (one used), median of {args.rounds} rounds in turns:")
    for name, ms in med.items():
        print(f"  {name:17s} {ms:7.1f} ms")
    print(f"  complex / real: {med['complex products'] / med['real products']:.2f}x; largest difference in loss and "
          f"gradients {diff:.1e}")


if __name__ == "__main__":
    main()
