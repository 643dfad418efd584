"""T2MIR mixture-of-experts layers against the dense transformer on Dark Room AD, at matched active parameters.

    python benchmarks/moe.py [--seeds 0] [--expert-hidden 48] [--rounds 5] [--split test|train] [--plot docs/t2mir_router.png]
    python benchmarks/moe.py --layer [--tokens 3200] [--rounds 5]

(1) Parameters: total, and active per token (the dense feed-forward layer, or the k
token-wise plus k task-wise experts a token is routed to, plus the gates), for the
darkroom-ad transformer and its T2MIR variant; ``--expert-hidden`` is chosen so that
the active counts match. (2) Training step seconds at darkroom-ad's batch and window,
dense and T2MIR interleaved over ``--rounds`` rounds (best of each), and their ratio.
(3) Both trained at the darkroom-ad preset with the same seed; the last-episode
held-out return with its 95% interval over rollouts. (4) Router diagnostics of the
trained T2MIR model on PSRL histories of held-out goals: the token-wise experts' load
per kind of token (an episode's first step, after a step without reward, after the
goal) and the task-wise experts' load per goal, drawn to ``--plot``.

``--layer``: the expert layer alone, forward and backward on ``--tokens`` tokens (darkroom9-ad-t2mir's
share of a batch per device: 16 windows of 200 steps) at width 64, for the token-wise (6 experts) and
task-wise (12) mixtures, top-2: the chosen experts only, on pairs sorted into tiles (the layer) against
every expert evaluated (``icrl.models.moe.every_expert``), interleaved, best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from timing import interleaved_step_seconds  # noqa: E402  (benchmarks/timing.py)

from icrl import make_agent, rollout  # noqa: E402
from icrl.metrics import mean_ci95_t  # noqa: E402
from icrl.runs import load_model  # noqa: E402
from icrl.training import Trainer  # noqa: E402
from train.configs import config_for, replace  # noqa: E402
from train.experiments import build, run, saved_results  # noqa: E402
from train.methods.ad.data import make_ad_dataset  # noqa: E402

OUT = os.path.join("runs", "bench-ad")  # shared with benchmarks/lhf.py: the dense run is its clean-plain


def count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def parameter_counts(setup, params) -> tuple[int, int]:
    """(total, active per token): experts not chosen for a token are not active."""
    p = params["params"]
    total = count(p)
    last = p[f"blocks_{setup.model.num_layers - 1}"]
    if "ffn" not in last:
        return total, total
    m = setup.model
    inactive = 0
    for moe, experts, selects in (("token_moe", m.num_experts, m.num_selects), ("task_moe", m.num_task_experts, m.num_task_selects)):
        per_expert = count(last["ffn"][moe]["experts"]) // experts
        inactive += per_expert * (experts - selects)
    return total, total - inactive


def step_seconds(setups, cfgs, rounds: int) -> dict[str, float]:
    """Best seconds per training step of each setup, interleaved."""
    runs = {}
    for name, setup in setups.items():
        cfg = cfgs[name]
        data = make_ad_dataset(setup.env, jax.random.PRNGKey(0), 256, cfg.history_episodes, source=cfg.source)
        trainer = Trainer(setup.model, setup.objective, cfg.train)
        runs[name] = (trainer, trainer.put_data(data.samples))
    return interleaved_step_seconds(runs, rounds)


def router_loads(run_dir: str, setup, cfg, num_goals_copies: int = 4):
    """Token-wise load per token kind ``(3, E)`` and task-wise load per held-out goal ``(G, E_task)``."""
    model, params, _ = load_model(run_dir)
    env = setup.env
    pool = env.task_pool("test")
    goals = env.num_tasks_in("test")
    tasks = jax.tree.map(lambda x: jnp.concatenate([x] * num_goals_copies), pool)
    history = rollout(env, make_agent(cfg.source, env), tasks, jax.random.PRNGKey(5), num_episodes=cfg.context_episodes)
    tokens = setup.spec.tokens(history)
    _, sown = model.apply(params, tokens, mutable=["moe"])
    block = sown["moe"][f"blocks_{model.num_layers - 1}"]["ffn"]
    token_w = np.asarray(block["token_weights"][-1])  # (N, T, E): this call's (a checkpoint may hold init's too)
    task_w = np.asarray(block["task_weights"][-1])
    reward = np.asarray(history.reward)
    prev = np.concatenate([np.zeros_like(reward[:, :1]), reward[:, :-1]], axis=1)
    first = (np.arange(tokens.shape[1]) % env.horizon == 0)[None, :].repeat(len(tokens), 0)
    kinds = {"episode start": first, "after no reward": ~first & (prev == 0), "after the goal": ~first & (prev > 0)}
    token_load = np.stack([token_w[mask].mean(0) for mask in kinds.values()])
    goal_of = np.tile(np.arange(goals), num_goals_copies)
    task_load = np.stack([task_w[goal_of == g].reshape(-1, task_w.shape[-1]).mean(0) for g in range(goals)])
    return list(kinds), token_load, task_load


def plot(path: str, kinds, token_load, task_load) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90, gridspec_kw={"width_ratios": [1, 1.6]})
    width = 0.8 / len(kinds)
    for i, (name, load) in enumerate(zip(kinds, token_load)):
        a.bar(np.arange(len(load)) + i * width, load, width, label=name)
    a.set(xlabel="token-wise expert", ylabel="mean gate weight", title="token-wise load per kind of token")
    a.legend(fontsize=7)
    im = b.imshow(task_load, aspect="auto", cmap="viridis")
    b.set(xlabel="task-wise expert", ylabel="held-out goal", title="task-wise load per goal")
    fig.colorbar(im, ax=b)
    fig.tight_layout()
    fig.savefig(path)
    print(f"router plot: {path}")


def layer_seconds(num_experts: int, tokens: int, rounds: int, width: int = 64, hidden: int = 64, k: int = 2) -> dict:
    """Best seconds of a forward and backward pass of the expert layer, chosen-only and every-expert."""
    from icrl.models.moe import GLUExperts, every_expert, routing_weights

    layer = GLUExperts(num_experts, hidden, width // 2, k)
    rows = (tokens // 200, 200) if tokens % 200 == 0 else (tokens,)  # windows of 200 steps, as the presets'
    x = jax.random.normal(jax.random.PRNGKey(0), rows + (width,))
    logits = jax.random.normal(jax.random.PRNGKey(1), rows + (num_experts,))
    chosen = logits >= jax.lax.top_k(logits, k)[0][..., k - 1 : k]
    weights = routing_weights(logits, chosen)
    params = layer.init(jax.random.PRNGKey(2), x, weights)
    faces = {"chosen only": lambda p, x, w: layer.apply(p, x, w), "every expert": lambda p, x, w: every_expert(p["params"], x, w)}
    grads = {name: jax.jit(jax.grad(lambda p, x, w, f=f: jnp.sum(jnp.sin(f(p, x, w))), argnums=(0, 1, 2))) for name, f in faces.items()}
    best = {name: float("inf") for name in grads}
    for _ in range(rounds + 1):  # the first compiles
        for name, g in grads.items():
            t0 = time.perf_counter()
            jax.block_until_ready(g(params, x, weights))
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--expert-hidden", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--plot", default=os.path.join("docs", "t2mir_router.png"))
    parser.add_argument("--no-train", action="store_true", help="parameters and step times only")
    parser.add_argument("--router-only", action="store_true", help="only the router diagnostics of the trained T2MIR run")
    parser.add_argument("--layer", action="store_true", help="only the expert layer: chosen experts against every expert")
    parser.add_argument("--tokens", type=int, default=3200)
    args = parser.parse_args()
    if args.layer:
        for experts in (6, 12):
            s = layer_seconds(experts, args.tokens, args.rounds)
            print(f"{experts} experts, top 2, {args.tokens} tokens, forward + backward: chosen only {s['chosen only'] * 1e3:.1f} ms, "
                  f"every expert {s['every expert'] * 1e3:.1f} ms; ratio {s['chosen only'] / s['every expert']:.2f}")
        return
    variants = {"dense": dict(ffn="dense"), "t2mir": dict(ffn="t2mir", expert_hidden=args.expert_hidden)}
    cfgs = {name: config_for("darkroom-ad", **kw, out_dir=OUT, baselines=("psrl",), eval_split=args.split)
            for name, kw in variants.items()}
    setups = {name: build(cfg) for name, cfg in cfgs.items()}
    if args.router_only:
        return _router(args, setups, cfgs)
    for name, setup in setups.items():
        params = setup.model.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, setup.spec.token_dim)))
        total, active = parameter_counts(setup, params)
        print(f"{name:>6}: {total:,} parameters, {active:,} active per token")
    seconds = step_seconds(setups, cfgs, args.rounds)
    print("training step: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in seconds.items())
          + f"; t2mir / dense {seconds['t2mir'] / seconds['dense']:.2f}x")
    if args.no_train:
        return
    per_seed = []
    for seed in args.seeds:
        last = {}
        for name in setups:
            cfg = replace(cfgs[name], seed=seed)
            run_name = f"{'clean-plain' if name == 'dense' else name}-seed{seed}"
            results = saved_results(cfg, run_name) or run(cfg, run_name, progress=False)
            method = next(m for m in results["methods"] if m.startswith("AD"))
            m = results["methods"][method]
            last[name] = (m["episode_return"][-1], m["episode_return_ci95"][-1], results["train_seconds"])
        (d, dci, ds), (t, tci, ts) = last["dense"], last["t2mir"]
        print(f"seed {seed} ({args.split} goals) last-episode return: dense {d:.2f} ± {dci:.2f} ({ds:.0f} s training), "
              f"t2mir {t:.2f} ± {tci:.2f} ({ts:.0f} s); t2mir / dense {t / d:.3f}")
        per_seed.append((d, t, t / d))
    if len(per_seed) > 1:
        (d, dci), (t, tci), (r, rci) = (mean_ci95_t(np.array(x)) for x in zip(*per_seed))
        print(f"over {len(per_seed)} training seeds (mean ± Student-t 95% interval across seeds): dense {d:.2f} ± {dci:.2f}, "
              f"t2mir {t:.2f} ± {tci:.2f}; t2mir / dense {r:.2f}x ± {rci:.2f} (per seed: "
              + ", ".join(f"{x[2]:.2f}x" for x in per_seed) + ")")
    _router(args, setups, cfgs)


def _router(args, setups, cfgs) -> None:
    if args.plot:
        run_dir = os.path.join(OUT, f"t2mir-seed{args.seeds[0]}")
        kinds, token_load, task_load = router_loads(run_dir, setups["t2mir"], cfgs["t2mir"])
        for name, load in zip(kinds, token_load):
            print(f"token-wise load, {name}: " + " ".join(f"{x:.2f}" for x in load))
        print("task-wise load per goal (rows): spread of each expert across goals " +
              " ".join(f"{x:.2f}" for x in task_load.std(0)))
        plot(args.plot, kinds, token_load, task_load)


if __name__ == "__main__":
    main()
