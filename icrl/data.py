"""Pretraining data: DPT contexts with optimal-action labels, AD learning histories, and their files.

Both are rollouts (``icrl.rollout``) over a batch of tasks, so a dataset of
100k bandit tasks is one jitted, vmapped call. A :class:`Dataset` holds the
interactions as one :class:`icrl.types.History` with a leading task axis, DPT's
query states and labels, and metadata; :attr:`Dataset.samples` is what a
training step samples batches from.

File format (``save_dataset`` / ``load_dataset``): one ``.npz`` holding the
history's arrays (``obs, action, reward, next_obs, done``), ``queries`` and
``labels`` (DPT), extra per-task arrays (``collector``, ``optimal_return``) and
``__meta__``, a JSON string with ``format`` (``icrl-dataset/1``), ``kind``
(``dpt`` or ``ad``), ``env`` (name, make arguments, number of actions,
observation shape, horizon), ``split``, ``source`` (the agent that generated the
interactions), ``seed`` and kind-specific sizes.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import check_positive_int, check_signature, signature
from icrl.agents import make_agent
from icrl.agents.noisy import NoisyAgent
from icrl.objectives import icee_flag, unbiasing_weights
from icrl.rollout import rollout
from icrl.types import History, Samples, task_vectors

FORMAT = "icrl-dataset/1"
_HISTORY_FIELDS = ("obs", "action", "reward", "next_obs", "done")
#: DPT labels: the true task's optimal action for uniform query states, or the collector's own actions.
LABELS = ("optimal", "collector")


@dataclass
class Dataset:
    """Pretraining data of ``num_tasks`` tasks.

    ``history``: the interactions, a :class:`History` of numpy arrays ``(N, T, ...)``
    (``T = context_len`` for DPT, ``num_episodes * horizon`` for AD; no regret).
    ``queries: (N, T + 1, *obs_shape)`` and ``labels: (N, T + 1) int32``: DPT's query
    state after every prefix of ``0..T`` transitions and its optimal action; ``None`` for AD. ``extras``: other
    per-task arrays (``collector: (N,)`` for a DPT mixture, ``optimal_return: (N,)``
    for AD). ``meta``: JSON-able description.
    """

    history: History
    queries: Any = None
    labels: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tasks(self) -> int:
        return int(self.history.action.shape[0])

    @property
    def samples(self) -> Samples:
        """What a training step samples batches from (see :class:`icrl.types.Samples`); an
        ``lhf_weight`` extra (:func:`lhf_weights`) sets how often each task is drawn."""
        return Samples(self.history, self.queries, self.labels, self.extras.get("lhf_weight"), self.extras.get("task"),
                       self.extras.get("conditions"), self.extras.get("behaviour"))

    def take(self, idx) -> "Dataset":
        """The tasks ``idx`` (indices or boolean mask)."""
        idx = np.asarray(idx)
        pick = lambda x: None if x is None else np.asarray(x)[idx]  # noqa: E731
        history = History(*(pick(x) for x in self.history))
        out = Dataset(history, pick(self.queries), pick(self.labels), {k: pick(v) for k, v in self.extras.items()}, dict(self.meta))
        out.meta["num_tasks"] = out.num_tasks
        return out


def _as_dataset(history: History, meta: dict, queries=None, labels=None, **extras) -> Dataset:
    host = lambda x: None if x is None else np.asarray(x)  # noqa: E731
    history = History(*(host(getattr(history, k)) for k in _HISTORY_FIELDS))
    return Dataset(history, host(queries), host(labels), {k: host(v) for k, v in extras.items()}, meta)


def _meta(kind: str, env, split: str, source: str, source_kwargs: dict | None, key, **sizes) -> dict:
    return {
        "format": FORMAT, "kind": kind, "env": signature(env), "split": split,
        "source": {"name": source, "kwargs": source_kwargs or {}},
        "seed": np.asarray(jax.random.key_data(key)).tolist(), **sizes,
    }


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


def split_counts(fractions: list[float], total: int) -> list[int]:
    """``total`` split by ``fractions``, rounded so the counts add up (largest remainders)."""
    exact = np.asarray(fractions) * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts.tolist()


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
    meta = _meta("dpt", env, split, name, collector_kwargs, key, num_tasks=num_tasks, context_len=context_len, labels=labels)
    extras = {"optimal_return": jax.vmap(env.optimal_return)(tasks)}  # for learning-history filtering
    if len(mix) > 1:
        meta["collectors"] = list(mix)
        extras["collector"] = np.repeat(np.arange(len(mix), dtype=np.int32), counts)
    return _as_dataset(history, meta, queries, label_array, **extras)


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
    meta = _meta("ad", env, split, source, source_kwargs, key, num_tasks=num_tasks, num_episodes=num_episodes, horizon=env.horizon)
    extras = {"optimal_return": optimal, "task": task_vectors(tasks, num_tasks)}  # task: which histories share a goal
    if num_noisy:
        meta["noise"] = {"noisy_fraction": noisy_fraction, "noise_epsilon": noise_epsilon}
        extras["noisy"] = np.arange(num_tasks) < num_noisy
    return _as_dataset(history, meta, **extras)


def icee_conditions(reward, horizon: int, best_to_go, floor: float = 0.0, tolerance: float = 0.5, best_steps=None,
                    strict: bool = False) -> jax.Array:
    """ICEE's per-step conditions of sequences of whole episodes: ``reward (..., E * horizon)`` and
    ``best_to_go (..., E * horizon)`` -> ``(..., E * horizon, 3)``: [no shortfall (1 or 0),
    shortfall / horizon, cross-episode flag].

    The in-episode return to go at step ``t`` sums the episode's rewards from ``t`` on (step
    ``t``'s own included); the condition is how far it falls short of the best the step's state
    allows (``best_to_go``): 0 when the rest of the episode is as good as it can be, also given
    as its own 0/1 feature (whether the step's action lies on a best path: a shortfall below
    ``tolerance``, the environment's ``return_tolerance``, 0.5 for the grid worlds' whole rewards).
    A deployed model asks for 0, a value its data hold at every state; a raw return to go would
    need a target that depends on the goal it does not know.

    With ``best_steps (..., E * horizon)`` (the fewest steps that collect the best return from each
    step's state), "no shortfall" also asks that the episode collect its last reward after step ``t``
    within that many steps: a detour that still ends with the best return (Key-to-Door's two
    rewards, each paid once, with time to spare) falls short in time. Where reward comes every step
    to the end (Dark Room's goal) a best return already takes every step left, so nothing changes.

    The flag of episode ``k`` (:func:`icrl.objectives.icee_flag`) compares its return with every
    earlier episode's, the first with an empty episode (return ``floor``, the environment's
    ``return_floor``); ``strict``: a tie earns none."""
    reward = jnp.asarray(reward, jnp.float32)
    per_episode = reward.reshape(reward.shape[:-1] + (-1, horizon))  # (..., E, H)
    to_go = jnp.flip(jnp.cumsum(jnp.flip(per_episode, -1), -1), -1).reshape(reward.shape)
    returns = per_episode.sum(-1)  # (..., E)
    best_before = jax.lax.cummax(returns, axis=returns.ndim - 1)
    best_before = jnp.concatenate([jnp.full_like(returns[..., :1], floor), best_before[..., :-1]], -1)  # an empty episode first
    flag = jnp.broadcast_to(icee_flag(returns, best_before, floor, strict)[..., None], per_episode.shape).reshape(reward.shape)
    shortfall = jnp.asarray(best_to_go, jnp.float32) - to_go
    best = shortfall < tolerance
    if best_steps is not None:
        t = jnp.arange(horizon)
        last = jnp.max(jnp.where(per_episode != 0, t, -1), axis=-1, keepdims=True)  # (..., E, 1) the last paid step, -1: none
        used = jnp.maximum(last - t + 1, 0).reshape(reward.shape)  # steps from t to the last reward, t's own included
        best &= used <= jnp.asarray(best_steps)
    return jnp.stack([best.astype(jnp.float32), shortfall / horizon, flag], -1)


def return_scale(env) -> tuple[float, float]:
    """``(floor, tolerance)`` of ``env``'s returns for ICEE's conditions: the return of an episode that
    achieved nothing and the shortfall below which a return counts as the best (0 and 0.5, the grid
    worlds' whole rewards, unless the environment says otherwise)."""
    return float(getattr(env, "return_floor", 0.0)), float(getattr(env, "return_tolerance", 0.5))


def make_icee_dataset(env, key: jax.Array, num_tasks: int, num_episodes: int, split: str = "train", max_epsilon: float = 1.0,
                      skew: float = 1.0, sort_by_epsilon: bool = False, min_epsilon: float = 0.0,
                      time_shortfall: bool = False, strict_flag: bool = False) -> Dataset:
    """ICEE data (Dai et al. 2024): ``num_episodes`` episodes of the ε-greedy oracle on each task
    (:class:`icrl.agents.epsilon.EpsilonOracleAgent`, ε drawn per episode from ``[min_epsilon, max_epsilon]``,
    random actions leaning by ``skew``), not learning histories. Arrays ``(N, num_episodes * horizon)``.
    ``time_shortfall``: "no shortfall" also asks for the best return in the fewest steps; ``strict_flag``: a tie
    with the best earlier episode earns no flag (:func:`icee_conditions`).

    Extras: ``conditions`` (:func:`icee_conditions`), ``behaviour`` (the probability of each
    recorded action under the data policy), ``epsilon (N, num_episodes)``, ``optimal_return``
    and ``task``. ``sort_by_epsilon``: each task's episodes in order of decreasing ε (the
    paper's AD-sorted baseline: a history that seems to improve). ``meta['weights']``: the
    spread of the unbiasing weights ``uniform(a) / π(a | o)``."""
    if not hasattr(env, "horizon"):
        raise ValueError(f"ICEE needs an environment with fixed-length episodes, got {env.name!r}")
    agent = make_agent("epsilon-oracle", env, max_epsilon=max_epsilon, min_epsilon=min_epsilon, skew=skew)
    k_tasks, k_roll = jax.random.split(key)
    tasks = env.sample_tasks(k_tasks, num_tasks, split)
    history = rollout(env, agent, tasks, k_roll, num_episodes=num_episodes)
    behaviour, epsilon, best_to_go, best_steps = history.info
    history = history._replace(info=None)
    epsilon = epsilon.reshape(num_tasks, num_episodes, env.horizon)[:, :, 0]
    if sort_by_epsilon:
        order = jnp.argsort(-epsilon, axis=1)

        def sort(x):
            per = x.reshape((num_tasks, num_episodes, env.horizon) + x.shape[2:])
            per = jnp.take_along_axis(per, order.reshape(order.shape + (1,) * (per.ndim - 2)), axis=1)
            return per.reshape(x.shape)

        history, behaviour, best_to_go, best_steps = jax.tree.map(sort, history), sort(behaviour), sort(best_to_go), sort(best_steps)
        epsilon = jnp.take_along_axis(epsilon, order, axis=1)
    optimal = jax.vmap(env.optimal_return)(tasks)
    conditions = icee_conditions(history.reward, env.horizon, best_to_go, *return_scale(env),
                                 best_steps=best_steps if time_shortfall else None, strict=strict_flag)
    weights = np.asarray(unbiasing_weights(behaviour, env.num_actions)).ravel()
    source_args = ({"max_epsilon": max_epsilon, "skew": skew} | ({"min_epsilon": min_epsilon} if min_epsilon else {})
                   | ({"time_shortfall": True} if time_shortfall else {}) | ({"strict_flag": True} if strict_flag else {}))
    meta = _meta("icee", env, split, "epsilon-oracle", source_args, key, num_tasks=num_tasks,
                 num_episodes=num_episodes, horizon=env.horizon, sorted_by_epsilon=sort_by_epsilon)
    meta["weights"] = {f"p{q}": float(np.percentile(weights, q)) for q in (50, 90, 99)} | {"max": float(weights.max())}
    return _as_dataset(history, meta, optimal_return=optimal, task=task_vectors(tasks, num_tasks), conditions=conditions,
                       behaviour=behaviour, epsilon=epsilon)


def episode_returns_normalised(dataset: Dataset) -> np.ndarray:
    """Each history's return per episode in units of its task's optimal return: ``(N, episodes)``."""
    episodes = dataset.meta.get("num_episodes") or dataset.history.action.shape[1] // dataset.meta["env"]["horizon"]
    returns = np.asarray(dataset.history.reward).reshape(dataset.num_tasks, episodes, -1).sum(-1)
    optimal = dataset.extras.get("optimal_return")
    if optimal is None:
        raise ValueError("learning-history filtering needs each task's optimal return (extras['optimal_return'])")
    return returns / np.maximum(np.asarray(optimal), 1e-6)[:, None]


#: Episodes a history needs for learning-history filtering to score it (improvement and stability compare episodes).
MIN_LHF_EPISODES = 2


def lhf_scores(returns: np.ndarray, stability_weight: float = 1.0) -> dict[str, np.ndarray]:
    """Learning-history filtering's score (Chen et al. 2025), ``U = Improvement + λ · Stability``, of
    histories whose per-episode returns are ``returns: (N, episodes)`` (in units of optimal).

    Improvement: the mean return of the last quarter of episodes minus that of the first
    quarter (quarters rather than single episodes, so one lucky or unlucky episode does not
    decide it). Stability: minus the mean drop between consecutive episodes, counting drops
    only (a steady climb scores 0, a climb that keeps falling back scores below). Both are in
    units of the optimal return, so tasks of different difficulty compare.
    """
    if returns.ndim != 2 or returns.shape[1] < MIN_LHF_EPISODES:
        raise ValueError(f"learning-history filtering scores how returns change across episodes: it needs histories of at "
                         f"least {MIN_LHF_EPISODES} episodes, got returns of shape {returns.shape} (tasks, episodes)")
    quarter = max(1, returns.shape[1] // 4)
    improvement = returns[:, -quarter:].mean(1) - returns[:, :quarter].mean(1)
    drops = np.maximum(-np.diff(returns, axis=1), 0.0)
    stability = -drops.mean(1)
    return {"improvement": improvement, "stability": stability, "score": improvement + stability_weight * stability}


def lhf_weights(score: np.ndarray, keep_fraction: float = 1.0, seed: int = 0) -> np.ndarray:
    """Sampling weights from LHF scores: the lowest ``1 - keep_fraction`` are filtered out
    (weight 0) and the rest weighted by their score rescaled to [0, 1] over the kept ones (the
    worst kept history weighs 0, the best 1), so histories are drawn in proportion to how
    well and how steadily they learn. Equal scores give equal weights; where the cut falls
    among equal scores, which of them are kept is drawn at random (``seed``), never by index
    (a dataset's order groups its sources)."""
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction!r}")
    n_keep = max(1, int(round(keep_fraction * len(score))))
    kept = np.zeros(len(score), bool)
    tie_break = np.random.default_rng(seed).permutation(len(score))
    kept[np.lexsort((tie_break, -score))[:n_keep]] = True  # by score, ties in a random order
    low, high = score[kept].min(), score[kept].max()
    weights = np.where(kept, (score - low) / (high - low) if high > low else 1.0, 0.0)
    if not weights.any():  # a single kept history
        weights = kept.astype(float)
    return weights.astype(np.float32)


def apply_lhf(dataset: Dataset, stability_weight: float = 1.0, keep_fraction: float = 1.0) -> Dataset:
    """The dataset with LHF sampling weights (extras ``lhf_weight``, read by the training step's
    batch sampler on device) and the scores in extras, for learning histories (AD) or
    multi-episode DPT contexts gathered by a learning collector."""
    scores = lhf_scores(episode_returns_normalised(dataset), stability_weight)
    extras = {**dataset.extras, "lhf_weight": lhf_weights(scores["score"], keep_fraction),
              **{f"lhf_{k}": v.astype(np.float32) for k, v in scores.items()}}
    meta = {**dataset.meta, "lhf": {"stability_weight": stability_weight, "keep_fraction": keep_fraction}}
    return Dataset(dataset.history, dataset.queries, dataset.labels, extras, meta)


def save_dataset(dataset: Dataset, path: str) -> None:
    """Write ``dataset`` to ``path`` (``.npz``) atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    arrays = {k: getattr(dataset.history, k) for k in _HISTORY_FIELDS}
    arrays.update({k: v for k, v in (("queries", dataset.queries), ("labels", dataset.labels)) if v is not None})
    arrays.update(dataset.extras)
    tmp = path + ".tmp.npz"
    np.savez(tmp, __meta__=np.array(json.dumps(dataset.meta)), **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)


def read_meta(path: str) -> dict | None:
    """The metadata of the dataset at ``path`` without reading its arrays; ``None`` if it is not a readable dataset."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["__meta__"]))
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError):
        return None


def load_dataset(path: str, env=None, kind: str | None = None) -> Dataset:
    """Read a dataset; with ``env`` (and ``kind``) check it was made for them."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no dataset at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as err:
        raise ValueError(f"{path!r} is not a readable icrl dataset ({type(err).__name__}: {err})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} has format {meta.get('format')!r}, expected {FORMAT!r}")
    missing = [k for k in _HISTORY_FIELDS if k not in arrays]
    if missing:
        raise ValueError(f"{path!r} lacks the arrays {missing} of an icrl dataset")
    if kind is not None and meta.get("kind") != kind:
        raise ValueError(f"{path!r} is a {meta.get('kind')!r} dataset, expected {kind!r}")
    if env is not None:
        check_signature(meta["env"], env, f"dataset {path!r}")
    history = History(*(arrays.pop(k) for k in _HISTORY_FIELDS))
    return Dataset(history, arrays.pop("queries", None), arrays.pop("labels", None), arrays, meta)
