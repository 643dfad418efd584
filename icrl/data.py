"""Pretraining data: the container every method's data maker fills, its file format, and
learning-history filtering.

A method's data maker (``train/methods/NAME/data.py``) runs rollouts (:mod:`icrl.rollout`) over a
batch of tasks, so a dataset of 100k bandit tasks is one jitted, vmapped call, and hands the arrays
to :func:`as_dataset`. A :class:`Dataset` holds the interactions as one :class:`icrl.types.History`
with a leading task axis, optional query states and labels, per-task or per-step extras and
metadata; :attr:`Dataset.samples` is what a training step samples batches from.

File format (``save_dataset`` / ``load_dataset``): one ``.npz`` holding the history's arrays
(``obs, action, reward, next_obs, done``), ``queries`` and ``labels`` where the data has them, the
extras, and ``__meta__``, a JSON string with ``format`` (``icrl-dataset/1``), ``kind`` (the
objective the data is for, named by its method), ``env`` (name, make arguments, number of actions,
observation shape, horizon), ``split``, ``source`` (the agent that generated the interactions),
``seed``, ``sample_extras`` (the extras a batch carries) and the method's own sizes.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from envs.base import check_signature, signature
from icrl.types import History, Samples

FORMAT = "icrl-dataset/1"
_HISTORY_FIELDS = ("obs", "action", "reward", "next_obs", "done")


@dataclass
class Dataset:
    """Pretraining data of ``num_tasks`` tasks.

    ``history``: the interactions, a :class:`History` of numpy arrays ``(N, T, ...)``
    (no regret). ``queries: (N, T + 1, *obs_shape)`` and ``labels: (N, T + 1) int32``: a
    query state after every prefix of ``0..T`` transitions and its label, or ``None`` where the
    labels are the recorded actions. ``extras``: other arrays with a leading task axis (each
    task's ``optimal_return``, its ``task`` vector, a method's own). ``meta``: JSON-able description.
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
        ``lhf_weight`` extra (:func:`lhf_weights`) sets how often each task is drawn, and the extras
        ``meta["sample_extras"]`` names go with the batch in ``Samples.extras`` (for a file that
        names none, every extra with a value per step, ``(num_tasks, T, ...)``)."""
        names = self.meta.get("sample_extras")
        if names is None:
            steps = self.history.action.shape[:2]
            names = [k for k, v in self.extras.items() if np.ndim(v) >= 2 and np.shape(v)[:2] == steps]
        return Samples(self.history, self.queries, self.labels, self.extras.get("lhf_weight"), self.extras.get("task"),
                       {k: self.extras[k] for k in names} or None)

    def take(self, idx) -> "Dataset":
        """The tasks ``idx`` (indices or boolean mask)."""
        idx = np.asarray(idx)
        pick = lambda x: None if x is None else np.asarray(x)[idx]  # noqa: E731
        history = History(*(pick(x) for x in self.history))
        out = Dataset(history, pick(self.queries), pick(self.labels), {k: pick(v) for k, v in self.extras.items()}, dict(self.meta))
        out.meta["num_tasks"] = out.num_tasks
        return out


def as_dataset(history: History, meta: dict, queries=None, labels=None, **extras) -> Dataset:
    """A :class:`Dataset` of host (numpy) copies of the arrays a data maker made on device."""
    host = lambda x: None if x is None else np.asarray(x)  # noqa: E731
    history = History(*(host(getattr(history, k)) for k in _HISTORY_FIELDS))
    return Dataset(history, host(queries), host(labels), {k: host(v) for k, v in extras.items()}, meta)


def dataset_meta(kind: str, env, split: str, source: str, source_kwargs: dict | None, key,
                 sample_extras: tuple[str, ...] = (), **sizes) -> dict:
    """A dataset's ``meta``: the objective ``kind`` it is for, ``env``'s signature, the ``split``, the ``source``
    agent and its arguments, the ``key``, the extras a batch carries (``sample_extras``) and the method's ``sizes``."""
    return {
        "format": FORMAT, "kind": kind, "env": signature(env), "split": split,
        "source": {"name": source, "kwargs": source_kwargs or {}},
        "seed": np.asarray(jax.random.key_data(key)).tolist(), "sample_extras": list(sample_extras), **sizes,
    }


def split_counts(fractions: list[float], total: int) -> list[int]:
    """``total`` split by ``fractions``, rounded so the counts add up (largest remainders)."""
    exact = np.asarray(fractions) * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts.tolist()


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
    batch sampler on device) and the scores in extras, for learning histories or
    multi-episode contexts gathered by a learning collector."""
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
