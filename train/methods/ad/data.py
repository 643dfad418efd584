"""AD's data (Laskin et al. 2022): learning histories of a source algorithm run from scratch on
training-split tasks; :func:`ad_arrays` is the pure part a pool of histories
(:mod:`train.methods.ad.stream`) refreshes on device."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from icrl.agents import make_agent
from icrl.agents.noisy import NoisyAgent
from icrl.data import Dataset, as_dataset, dataset_meta
from icrl.rollout import rollout
from icrl.types import task_vectors


def ad_arrays(env, agent, num_tasks: int, num_noisy: int, noise_epsilon: float, key, num_episodes: int,
              split: str = "train", check: bool = True):
    """``(tasks, history)`` of ``num_tasks`` learning histories of ``agent`` run from scratch for
    ``num_episodes`` episodes, the first ``num_noisy`` of them by its degraded copy: the arrays
    of :func:`make_ad_dataset`, from the same key. Pure and traceable with ``check=False``, so a
    training step's pool of histories can be refreshed on device (:mod:`icrl.streams`)."""
    if not hasattr(env, "horizon"):
        raise ValueError(f"AD needs an environment with fixed-length episodes, got {env.name!r}")
    k_tasks, k_roll = jax.random.split(key)
    tasks = env.sample_tasks(k_tasks, num_tasks, split)
    parts = []
    for i, (start, stop, actor) in enumerate(((0, num_noisy, NoisyAgent(agent, noise_epsilon)), (num_noisy, num_tasks, agent))):
        if stop > start:
            part = jax.tree.map(lambda x: x[start:stop], tasks)
            parts.append(rollout(env, actor, part, k_roll if num_noisy == 0 else jax.random.fold_in(k_roll, i),
                                 num_episodes=num_episodes, check_actions=check))
    return tasks, jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)

def make_ad_dataset(
    env,
    key: jax.Array,
    num_tasks: int,
    num_episodes: int,
    split: str = "train",
    source: str = "q-learning",
    source_kwargs: dict | None = None,
    noisy_fraction: float = 0.0,
    noise_epsilon: float = 0.5,
) -> Dataset:
    """AD data (Laskin et al. 2022): the learning history of ``source``, run from
    scratch for ``num_episodes`` episodes on each task. Arrays ``(N, num_episodes * horizon)``.

    Extras: ``optimal_return`` and ``task`` (each history's task, :func:`icrl.types.task_vectors`).
    ``noisy_fraction`` of the histories (the first ones; extras ``noisy`` marks them) come
    from a degraded learner: ``source`` acting at random with a probability drawn per task
    from ``[0, noise_epsilon]`` (:class:`icrl.agents.noisy.NoisyAgent`)."""
    if not 0.0 <= noisy_fraction <= 1.0:
        raise ValueError(f"noisy_fraction must be in [0, 1], got {noisy_fraction!r}")
    agent = make_agent(source, env, **(source_kwargs or {}))
    num_noisy = int(round(noisy_fraction * num_tasks))
    tasks, history = ad_arrays(env, agent, num_tasks, num_noisy, noise_epsilon, key, num_episodes, split)
    optimal = jax.vmap(env.optimal_return)(tasks)
    meta = dataset_meta("ad", env, split, source, source_kwargs, key, num_tasks=num_tasks, num_episodes=num_episodes, horizon=env.horizon)
    extras = {"optimal_return": optimal, "task": task_vectors(tasks, num_tasks)}  # task: which histories share a goal
    if num_noisy:
        meta["noise"] = {"noisy_fraction": noisy_fraction, "noise_epsilon": noise_epsilon}
        extras["noisy"] = np.arange(num_tasks) < num_noisy
    return as_dataset(history, meta, **extras)
