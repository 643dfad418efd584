"""The Bayes-optimal DPT loss of a Dark Room DPT dataset, to read a training loss against.

    python benchmarks/dpt_floor.py [--size 7 --horizon 49 --context-episodes 4 --num-tasks 4000]

DPT's label is the optimal action for the query; with goals uniform over the
environment's training pool, the best any model can do at context prefix ``t``
is the exact posterior ``P(a optimal | first t transitions)``
(``icrl.agents.TaskPosteriorAgent.action_probs``). A loss below this floor
means the model memorised contexts instead of inferring the goal. The dataset is
generated as ``python -m train darkroom-dpt-paper`` does (the paper's label; with
labels drawn as PSRL draws them, darkroom-dpt, the floor is PSRL's own entropy).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
from icrl.agents import Transition, make_agent  # noqa: E402
from train.methods.dpt.data import make_dpt_dataset  # noqa: E402


def bayes_loss(env, samples, split: str = "train") -> float:
    """Mean cross-entropy of the exact posterior's action probabilities at every prefix
    (``samples``: a DPT dataset's :class:`icrl.types.Samples`)."""
    agent = make_agent("posterior", env, split=split)

    def one_task(obs, action, reward, next_obs, done, queries, labels):
        def nll(state, q, label):
            return -jnp.log(jnp.maximum(agent.action_probs(state, q)[label], 1e-12))

        def step(state, x):
            o, a, r, n, d, q, label = x
            return agent.update(state, Transition(o, a, r, n, d)), nll(state, q, label)  # before seeing this transition

        steps = obs.shape[0]
        final, losses = jax.lax.scan(step, agent.init(None), (obs, action, reward, next_obs, done, queries[:steps], labels[:steps]))
        if queries.shape[0] > steps:  # the query after the whole context
            losses = jnp.concatenate([losses, nll(final, queries[-1], labels[-1])[None]])
        return losses.mean()

    h = samples.history
    inputs = (h.obs, h.action, h.reward, h.next_obs, h.done, samples.queries, samples.labels)
    return float(jax.jit(jax.vmap(one_task))(*(jnp.asarray(x) for x in inputs)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=7)
    parser.add_argument("--horizon", type=int, default=49)
    parser.add_argument("--context-episodes", type=int, default=4)
    parser.add_argument("--num-tasks", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    env, _ = envs.make("darkroom", size=args.size, horizon=args.horizon)
    key = jax.random.fold_in(jax.random.PRNGKey(args.seed), 11)  # the experiments' data key
    data = make_dpt_dataset(env, key, args.num_tasks, args.context_episodes * args.horizon, split="train",
                            collector="dirichlet:0.5,psrl:0.5")
    print(f"darkroom {args.size}x{args.size}, horizon {args.horizon}, contexts of {args.context_episodes} episodes, "
          f"{args.num_tasks} tasks")
    print(f"  Bayes-optimal DPT loss (prior: training goals): {bayes_loss(env, data.samples, 'train'):.4f}")
    print(f"  prior only (no context):                        {bayes_loss(env, _no_context(data.samples), 'train'):.4f}")


def _no_context(samples):
    """The same queries with every transition's reward hidden behind an impossible observation."""
    h = samples.history
    far = jnp.full_like(jnp.asarray(h.next_obs), -1)  # no goal lies at (-1, -1): rules nothing out
    return samples._replace(history=h._replace(next_obs=far, reward=jnp.zeros_like(jnp.asarray(h.reward))))


if __name__ == "__main__":
    main()
