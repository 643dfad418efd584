"""The training step against the same model and step written in PyTorch, side by side on this machine.

    pip install -e ".[bench]"   # PyTorch, for this benchmark only
    python benchmarks/torch_step.py [--rounds 5] [--steps 5] [--threads 0] [--microbatches 1 4 8]
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python benchmarks/torch_step.py --devices 2

bandit-dpt's model and batch: 3 pre-LayerNorm (GPT-2 style) blocks of width 64 with 2
heads, a 4x GELU MLP, batch 128 of 101 tokens, cross-entropy at every position, AdamW
(weight decay on weight matrices) after global-norm clipping at 1.0; positions by ALiBi
(bandit-dpt's) and, as GPT-2 and the reference DPT code have them, learned. icrl's step is
:class:`icrl.training.Trainer`'s compiled step on a fixed dataset (it also draws its batch
on device); PyTorch's runs on a batch already made, with ``F.scaled_dot_product_attention``
(ALiBi: the bias as its float mask; learned: ``is_causal``, its fused causal kernel), the
fastest way it offers on CPU without compiling. Both are timed interleaved over ``--rounds`` rounds
of ``--steps`` steps, best round of each, with the same number of threads (``--threads``,
0: as many as cores, which is what both use by default), and the ratio printed. ``--devices 2``
runs icrl's step data parallel over two host devices (the CPU split in two by the XLA flag
above; each device's half of the batch in the microbatches), PyTorch's as before.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
from icrl.models import TokenSpec, Transformer  # noqa: E402
from icrl.training import TrainConfig, Trainer  # noqa: E402
from train.methods.dpt.data import make_dpt_dataset  # noqa: E402
from train.methods.dpt.objective import DPTObjective  # noqa: E402

LAYERS, WIDTH, HEADS, BATCH, HORIZON, ARMS = 3, 64, 2, 128, 100, 5


def torch_step_fn(token_dim: int, num_actions: int, seq_len: int, encoding: str, microbatches: int = 1):
    """A PyTorch model and step of the same shape as icrl's; returns ``step()`` (one AdamW step
    on a fixed random batch, blocking; its gradient accumulated over ``microbatches`` equal parts)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
            self.qkv, self.proj = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH)
            self.mlp_in, self.mlp_out = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)

        def forward(self, x, bias):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=bias is None)
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, WIDTH))
            return x + self.mlp_out(F.gelu(self.mlp_in(self.ln2(x)), approximate="tanh"))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(token_dim, WIDTH)
            self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.ln, self.head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, num_actions)
            if encoding == "alibi":
                slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / HEADS) for h in range(HEADS)])
                self.alibi = nn.Parameter(torch.log(torch.expm1(slopes)))
            else:
                self.positions = nn.Parameter(0.02 * torch.randn(seq_len, WIDTH))

        def forward(self, tokens):
            x, bias = self.embed(tokens), None
            if encoding == "alibi":
                steps = torch.arange(tokens.shape[1])
                distance = (steps[:, None] - steps[None, :]).float()
                bias = -F.softplus(self.alibi)[:, None, None] * distance
                bias = bias.masked_fill(distance < 0, -math.inf)[None]  # causal
            else:
                x = x + self.positions[: tokens.shape[1]]
            for block in self.blocks:
                x = block(x, bias)
            return self.head(self.ln(x))

    torch.manual_seed(0)
    model = Model()
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 2]
    other = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.dim() == 2)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": other, "weight_decay": 0.0}], lr=1e-3)
    tokens = torch.randn(BATCH, seq_len, token_dim)
    labels = torch.randint(0, num_actions, (BATCH, seq_len))

    def step():
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for part_tokens, part_labels in zip(tokens.chunk(microbatches), labels.chunk(microbatches)):
            loss = F.cross_entropy(model(part_tokens).reshape(-1, num_actions), part_labels.reshape(-1)) / microbatches
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return total

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="PyTorch's threads (0: one per core)")
    parser.add_argument("--microbatches", type=int, nargs="+", default=[1, 4, 8],
                        help="each step's batch in this many parts, gradients accumulated (both frameworks)")
    parser.add_argument("--devices", type=int, default=1,
                        help="icrl's step data parallel over this many devices (on CPU: set XLA's host device count)")
    args = parser.parse_args()
    if args.devices > jax.local_device_count():
        raise SystemExit(f"--devices {args.devices} needs as many JAX devices, this process has {jax.local_device_count()}; on CPU run "
                         f"with XLA_FLAGS=--xla_force_host_platform_device_count={args.devices}")
    try:
        import torch
    except ImportError:
        raise SystemExit('this benchmark needs PyTorch: pip install -e ".[bench]"') from None
    torch.set_num_threads(args.threads or os.cpu_count())

    env, _ = envs.make("bernoulli-bandit", num_arms=ARMS, horizon=HORIZON)
    spec = TokenSpec.for_env(env)
    seq_len = HORIZON + 1
    dataset = make_dpt_dataset(env, jax.random.PRNGKey(0), 2000, HORIZON)
    runs, settings = {}, [(encoding, parts) for encoding in ("alibi", "learned") for parts in args.microbatches]
    for encoding, parts in settings:
        trainer = icrl_trainer(spec, encoding, parts, args.devices)
        runs[("icrl", encoding, parts)] = icrl_steps(trainer, trainer.put_data(dataset), args.steps)
        runs[("pytorch", encoding, parts)] = torch_steps(torch_step_fn(spec.token_dim, ARMS, seq_len, encoding, parts), args.steps)
    best = {name: math.inf for name in runs}
    for _ in range(args.rounds + 1):  # the first round compiles and warms up
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / args.steps)
    print(f"{jax.default_backend()} ({args.devices} device(s) for icrl) / torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"{LAYERS} layers, width {WIDTH}, {HEADS} heads, batch {BATCH}, {seq_len} tokens")
    for encoding, parts in settings:
        ours, theirs = best[("icrl", encoding, parts)], best[("pytorch", encoding, parts)]
        print(f"{encoding} positions, {parts} microbatch(es): seconds per training step icrl {ours:.4f}, "
              f"PyTorch {theirs:.4f}; icrl / PyTorch speed {theirs / ours:.2f}x")
    for encoding in ("alibi", "learned"):  # each framework at its fastest setting
        ours = min(best[("icrl", encoding, parts)] for parts in args.microbatches)
        theirs = min(best[("pytorch", encoding, parts)] for parts in args.microbatches)
        print(f"{encoding} positions, each at its best of microbatches {args.microbatches}: icrl {ours:.4f}, "
              f"PyTorch {theirs:.4f}; icrl / PyTorch speed {theirs / ours:.2f}x")


def icrl_trainer(spec: TokenSpec, encoding: str, microbatches: int, devices: int = 1) -> Trainer:
    """icrl's trainer of bandit-dpt's model with ``encoding`` positions, the step in ``microbatches`` parts."""
    model = Transformer(spec.token_dim, ARMS, max_len=HORIZON + 1, num_layers=LAYERS, num_heads=HEADS, width=WIDTH,
                        position_encoding=encoding)
    return Trainer(model, DPTObjective(spec), TrainConfig(batch_size=BATCH, num_devices=devices, microbatches=microbatches))


def icrl_steps(trainer, data, steps: int):
    state = trainer.init_state()

    def run():
        nonlocal state
        for _ in range(steps):
            state, loss = trainer.step(state, data)
        jax.block_until_ready(loss)

    return run


def torch_steps(step, steps: int):
    def run():
        for _ in range(steps):
            step()

    return run


if __name__ == "__main__":
    main()
