"""Long-context attention in blocks of queries: each block against the keys up to its last query, or against every key.

    python benchmarks/attention_blocks.py [--presets darkroom20-ad darkroom9-ad] [--rounds 3] [--dataset-tasks 128]

A sequence longer than twice ``icrl.models.transformer.QUERY_CHUNK`` attends in blocks of
queries. Since every mask of the transformer is causal, a block's queries see no key after its
last query: the package stops each block's scores there. This script times each preset's
training step with that and with every block scoring every key (the masked form, patched in
while its step compiles), in turns over ``--rounds`` rounds (best of each), and prints both and
their ratio. Presets whose windows fit in two blocks attend in one piece either way.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from train.devices import use_every_core  # noqa: E402

use_every_core()  # the devices a training run makes, before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from icrl.models import transformer  # noqa: E402
from icrl.training import Trainer  # noqa: E402
from train.configs import config_for  # noqa: E402
from train.experiments import _make_data, build  # noqa: E402
from timing import interleaved_step_seconds  # noqa: E402  (benchmarks/timing.py)


def every_key_attention(q, k, v, mask, bias=None, query_chunk=None):
    """Blocks of queries, each scoring all ``time`` keys (the mask hides the later ones)."""
    time, chunk = q.shape[1], query_chunk or transformer.QUERY_CHUNK
    if time <= 2 * chunk:
        return transformer._attention(q, k, v, mask, bias)
    blocks = -(-time // chunk)
    pad = blocks * chunk - time
    q = jnp.pad(q, ((0, 0), (0, pad), (0, 0), (0, 0)))
    mask = jnp.pad(mask, ((0, 0), (0, pad), (0, 0)))
    bias = None if bias is None else jnp.pad(bias, ((0, 0), (0, 0), (0, pad), (0, 0)))

    @jax.checkpoint
    def block(start):
        rows = lambda x, axis: jax.lax.dynamic_slice_in_dim(x, start, chunk, axis)  # noqa: E731
        return transformer._attention(rows(q, 1), k, v, rows(mask, 1), None if bias is None else rows(bias, 2))

    out = jax.lax.map(block, jnp.arange(blocks) * chunk)
    return jnp.moveaxis(out, 0, 1).reshape((q.shape[0], blocks * chunk) + q.shape[2:])[:, :time]


def compiled_trainer(cfg, setup, data, patched: bool):
    """A trainer whose step has compiled (one step taken) with the package's attention or the every-key form."""
    trainer = Trainer(setup.model, setup.objective, cfg.train)
    saved = transformer.causal_attention
    if patched:
        transformer.causal_attention = every_key_attention
    try:
        placed = trainer.put_data(data.samples)
        jax.block_until_ready(trainer.step(trainer.init_state(), placed)[1])
    finally:
        transformer.causal_attention = saved
    return trainer, placed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["darkroom20-ad", "darkroom9-ad"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dataset-tasks", type=int, default=128)
    args = parser.parse_args()
    for name in args.presets:
        cfg = config_for(name)
        setup = build(cfg)
        data = _make_data(cfg, setup.env, jax.random.PRNGKey(cfg.seed), args.dataset_tasks)
        runs = {"up to each block's end": compiled_trainer(cfg, setup, data, False),
                "every key": compiled_trainer(cfg, setup, data, True)}
        seconds = interleaved_step_seconds(runs, args.rounds, steps=3)
        ours, every = seconds["up to each block's end"], seconds["every key"]
        print(f"{name} ({cfg.train.batch_size} windows of {cfg.context_episodes * cfg.horizon} steps, blocks of "
              f"{transformer.QUERY_CHUNK} queries, {jax.device_count()} host devices): keys up to each block's end "
              f"{1000 * ours:.0f} ms/step, every key {1000 * every:.0f} ms/step; {every / ours:.2f}x", flush=True)


if __name__ == "__main__":
    main()
