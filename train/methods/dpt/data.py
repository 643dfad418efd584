"""DPT's data (Lee et al. 2023): contexts gathered by a collector (or a mixture of collectors) on
training-split tasks, a query state after every prefix and its label; :func:`dpt_arrays` is the pure
part a stream (:mod:`train.methods.dpt.stream`) runs inside the training step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import check_positive_int
from icrl.agents import make_agent
from icrl.data import Dataset, as_dataset, dataset_meta, split_counts
from icrl.rollout import rollout

#: DPT labels: the true task's optimal action for uniform query states, or the collector's own actions.
LABELS = ("optimal", "collector")

def parse_collectors(collector) -> dict[str, float]:
    """A collector name, a mixture ``"dirichlet:0.5,thompson:0.5"``, or a dict name -> weight
    -> normalised weights ``{name: fraction}``."""
    if isinstance(collector, str):
        weights = {}
        for item in collector.split(","):
            name, _, weight = item.strip().partition(":")
            try:
                weights[name] = float(weight) if weight else 1.0
            except ValueError:
                raise ValueError(f"collector mixture {collector!r}: weight {weight!r} of {name!r} is not a number") from None
    else:
        weights = dict(collector)
    if not weights or any(not w > 0 for w in weights.values()):
        raise ValueError(f"collector mixture needs positive weights, got {collector!r}")
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}

def dpt_collectors(env, collector="dirichlet", collector_kwargs: dict | None = None, labels: str = "optimal"):
    """``(fractions, agents)`` of a DPT collector or mixture (see :func:`make_dpt_dataset`)."""
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    mix = parse_collectors(collector)
    if len(mix) == 1:
        return mix, [make_agent(next(iter(mix)), env, **(collector_kwargs or {}))]
    return mix, [make_agent(name, env, **(collector_kwargs or {}).get(name, {})) for name in mix]

def dpt_arrays(env, agents, counts, key, context_len: int, labels: str = "optimal", split: str = "train", check: bool = True):
    """``(tasks, history, queries, labels)`` of ``sum(counts)`` DPT contexts, ``counts[i]`` of them
    gathered by ``agents[i]``: the arrays of :func:`make_dpt_dataset`, from the same key. Pure
    and traceable with ``check=False`` (no host-side action check), so a training step can make
    its own batch (:mod:`icrl.streams`)."""
    num_tasks = int(sum(counts))
    k_tasks, k_roll, k_query = jax.random.split(key, 3)
    tasks = env.sample_tasks(k_tasks, num_tasks, split)
    parts, start = [], 0
    for i, (agent, count) in enumerate(zip(agents, counts)):
        if count:  # the tasks are i.i.d., so consecutive blocks are as random as any
            part = jax.tree.map(lambda x: x[start : start + count], tasks)
            steps = context_len + (labels == "collector")
            parts.append(rollout(env, agent, part, jax.random.fold_in(k_roll, i) if len(agents) > 1 else k_roll, steps,
                                 check_actions=check))
        start += count
    history = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
    if labels == "collector":
        queries, label_array = history.obs, history.action  # the states visited, the actions taken there
        history = jax.tree.map(lambda x: x[:, :context_len], history)
    else:
        queries = env.sample_query_obs(k_query, (num_tasks, context_len + 1))  # prefixes of 0..context_len transitions
        label_array = jax.jit(jax.vmap(jax.vmap(env.optimal_action_for_obs, in_axes=(0, None))))(queries, tasks)
    return tasks, history, queries, label_array

def make_dpt_dataset(
    env,
    key: jax.Array,
    num_tasks: int,
    context_len: int,
    split: str = "train",
    collector="dirichlet",
    collector_kwargs: dict | None = None,
    labels: str = "optimal",
) -> Dataset:
    """DPT data (Lee et al. 2023): per task a context of ``context_len`` interactions of
    ``collector`` (Dirichlet-random by default), a query state after every prefix of
    ``0..context_len`` interactions, drawn uniformly from the state space, and the
    optimal action for each query as its label.

    ``collector`` may be a mixture (``"dirichlet:0.5,thompson:0.5"`` or a dict of
    weights): each collector gathers the contexts of its share of the tasks,
    ``collector_kwargs`` then maps a collector's name to its arguments, and the
    array ``collector: (N,) int32`` indexes ``meta["collectors"]``.

    ``labels="collector"``: the queries are the states the collector visited and the
    labels the actions it took there (the collector runs one step more, for the query
    after the whole context). With ``psrl`` as the collector these are the optimal
    actions of a task drawn from the posterior once per episode and redrawn when
    ruled out: DPT's label (an optimal action drawn from the posterior) made coherent
    within an episode, which the deployed model then commits to as PSRL does."""
    context_len = check_positive_int("context_len", context_len)
    mix, agents = dpt_collectors(env, collector, collector_kwargs, labels)
    counts = split_counts(list(mix.values()), num_tasks)
    tasks, history, queries, label_array = dpt_arrays(env, agents, counts, key, context_len, labels, split)
    name = collector if isinstance(collector, str) else ",".join(f"{k}:{v:g}" for k, v in mix.items())
    meta = dataset_meta("dpt", env, split, name, collector_kwargs, key, num_tasks=num_tasks, context_len=context_len, labels=labels)
    extras = {"optimal_return": jax.vmap(env.optimal_return)(tasks)}  # for learning-history filtering
    if len(mix) > 1:
        meta["collectors"] = list(mix)
        extras["collector"] = np.repeat(np.arange(len(mix), dtype=np.int32), counts)
    return as_dataset(history, meta, queries, label_array, **extras)
