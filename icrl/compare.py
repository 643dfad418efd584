"""Methods side by side on one grid-world benchmark: a table of return as a fraction of optimal and one figure.

Input: for each row (an in-context method's preset, or a classic baseline), one results
dict per training seed (:mod:`icrl.results`' format, grid world: ``episode_return`` per
episode and ``optimal_return``). Each seed's curve is divided by its optimal return; the
table gives, at chosen episodes, the mean over seeds with a Student-t 95% interval across
seeds, and the first episode at which the mean curve reaches a fraction (90%) of optimal.
Baselines are read from the same runs: every preset of a benchmark evaluates them on the
same goals with the same keys, so their curves agree across presets of one seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from icrl.metrics import CI_LEVEL, mean_ci95_t
from icrl.results import kind, record_hash

#: The episodes the table reports (those beyond a row's evaluation are left blank).
EPISODES = (1, 5, 10, 20, 40)
#: The fraction of optimal whose first episode the table reports.
REACH = 0.9


@dataclass(frozen=True)
class Row:
    """One method over seeds: ``fractions (seeds, episodes)`` of optimal return.

    ``seed_ids``: the training seed of each row of ``fractions`` (empty where unknown);
    ``seed_minutes``: each seed's training minutes (empty for a classic baseline);
    ``provenance``: each seed's :func:`seed_provenance` (None for a seed whose results predate it;
    empty where no seed has one)."""

    name: str
    fractions: np.ndarray
    seed_ids: tuple[int, ...] = ()
    seed_minutes: tuple[float, ...] = ()
    provenance: tuple = ()

    def __post_init__(self):
        if not any(p is not None for p in self.provenance):  # no seed traced: one empty tuple stands for it
            object.__setattr__(self, "provenance", ())

    def seed_provenance(self, i: int) -> dict | None:
        """The provenance of the row's ``i``-th seed (None where it has none)."""
        return self.provenance[i] if self.provenance else None

    @property
    def traced(self) -> bool:
        """Whether every seed's figures name the commit, config and devices that made them."""
        return all(self.seed_provenance(i) is not None for i in range(self.seeds))

    @property
    def minutes(self) -> float | None:
        """Mean training minutes per seed (None: a classic baseline)."""
        return float(np.mean(self.seed_minutes)) if self.seed_minutes else None

    @property
    def seeds(self) -> int:
        return self.fractions.shape[0]

    def at(self, episode: int) -> tuple[float, float] | None:
        """Mean and interval across seeds of the fraction of optimal in ``episode`` (1-based)."""
        if episode > self.fractions.shape[1]:
            return None
        mean, ci = mean_ci95_t(self.fractions[:, episode - 1])
        return float(mean), float(ci)

    def first_reaching(self, fraction: float = REACH) -> int | None:
        """The first episode whose mean over seeds is at least ``fraction`` of optimal."""
        hits = np.nonzero(self.fractions.mean(0) >= fraction)[0]
        return int(hits[0]) + 1 if hits.size else None


def merge_rows(earlier: list[Row], found: list[Row]) -> list[Row]:
    """``found`` rows completed by ``earlier`` ones, seed by seed: a seed of a row in ``found`` replaces
    that seed of the same-named earlier row; the earlier row's other seeds, and earlier rows that
    ``found`` lacks, are kept. Rows keep ``earlier``'s order, rows new to it follow ``found``'s.
    Every row must name its seeds (``seed_ids``); raises ``ValueError`` where one does not."""
    for row in (*earlier, *found):
        if len(row.seed_ids) != row.seeds:
            raise ValueError(f"row {row.name!r} names {len(row.seed_ids)} seeds for its {row.seeds} curves: "
                             "rows are merged seed by seed")
    new = {row.name: row for row in found}
    old = {row.name: row for row in earlier}
    order = list(old) + [name for name in new if name not in old]
    out = []
    for name in order:
        parts = {}  # seed -> (curve, minutes or None, provenance or None)
        for row in (old.get(name), new.get(name)):  # the found row last: its seeds win
            if row is None:
                continue
            minutes = row.seed_minutes or (None,) * row.seeds
            parts.update({s: (c, m, row.seed_provenance(i)) for i, (s, c, m) in enumerate(zip(row.seed_ids, row.fractions, minutes))})
        seeds = sorted(parts)
        length = min(len(parts[s][0]) for s in seeds)
        per_seed = [parts[s][1] for s in seeds]
        timed = all(m is not None for m in per_seed)
        out.append(Row(name, np.stack([parts[s][0][:length] for s in seeds]), tuple(seeds), tuple(per_seed) if timed else (),
                       tuple(parts[s][2] for s in seeds)))
    return out


def fraction_curve(results: dict, method: str) -> np.ndarray:
    """``method``'s return per episode as a fraction of optimal, from one results dict: the mean over
    tasks of each task's return over its own optimal return (``episode_fraction``), so a far goal
    weighs as much as a near one; in results made before that was recorded, the mean return over
    the mean optimal return (see :func:`fraction_kind`)."""
    if kind(results) != "return":
        raise ValueError(f"the comparison is of grid-world returns; {results.get('experiment', 'a run')!r} reports regret")
    if method not in results["methods"]:
        raise ValueError(f"{method!r} is not in the results of {results.get('experiment')!r} (it has {sorted(results['methods'])})")
    m = results["methods"][method]
    if "episode_fraction" in m:
        return np.asarray(m["episode_fraction"], np.float64)
    return np.asarray(m["episode_return"], np.float64) / float(m.get("optimal_return") or results["optimal_return"])


#: What a fraction of optimal is: the mean over tasks of each task's fraction, or (older results) a ratio of means.
PER_TASK, RATIO_OF_MEANS = "mean over tasks", "ratio of means"


def fraction_kind(results: dict, method: str) -> str:
    """:data:`PER_TASK` where ``method``'s results carry ``episode_fraction``, else :data:`RATIO_OF_MEANS`."""
    return PER_TASK if "episode_fraction" in results["methods"][method] else RATIO_OF_MEANS


def config_hash(config: dict) -> str:
    """SHA-256 of a run's full config (canonical JSON, as :func:`icrl.results.record_hash` hashes a
    checkpoint record): how a row names the config of each seed."""
    return record_hash(config)


def seed_provenance(results: dict, method: str) -> dict | None:
    """What made one seed's figures of ``method``: the run's provenance (commit, dirty tree, checkpoint
    record hash, devices, library versions), the hash of its full config (:func:`config_hash`) and
    how its fraction of optimal was computed (:func:`fraction_kind`); None for results made before
    runs recorded their devices."""
    made = results.get("provenance")
    if not made or not made.get("commit") or "devices" not in made or "config" not in results:
        return None
    return {**made, "config_sha256": config_hash(results["config"]), "fraction": fraction_kind(results, method)}


def model_methods(results: dict, baselines) -> list[str]:
    """The deployed models' names in a results dict: the methods that are not baselines (step context);
    a method deployed several ways (DICP's beam widths) has its main agent unqualified, first."""
    models = sorted((m for m in results["methods"] if m not in baselines and "context)" not in m), key=lambda m: (" (" in m, m))
    if not models:
        raise ValueError(f"no model among {sorted(results['methods'])}")
    return models


def rows(runs: dict[str, list[dict]], baselines: tuple[str, ...]) -> list[Row]:
    """One row per preset and deployed model (its seeds' results; a variant of the main agent is named
    ``PRESET (variant)``, and a run evaluated on a sample of the split's tasks says so: ``[160 of 1296
    tasks]``), then one per baseline (from the runs that evaluated it, the longest evaluation's seeds)."""
    out = []
    for name, seeds in runs.items():
        if not seeds:
            continue
        models = model_methods(seeds[0], baselines)
        seed_minutes = tuple(r.get("train_seconds", 0.0) / 60 for r in seeds)
        for i, model in enumerate(models):
            curves = [fraction_curve(r, model) for r in seeds]
            length = min(len(c) for c in curves)
            label = name if i == 0 else f"{name} {model[model.index(' ('):].strip()}"
            if "pool_size" in seeds[0]:  # evaluated on a sample of the split's tasks (``eval_pool_sample``)
                label += f" [{seeds[0]['num_goals']} of {seeds[0]['pool_size']} tasks]"
            out.append(Row(label, np.stack([c[:length] for c in curves]), _seed_ids(seeds), seed_minutes,
                           tuple(seed_provenance(r, model) for r in seeds)))
    for baseline in baselines:
        having = [seeds for seeds in runs.values() if seeds and all(baseline in r["methods"] for r in seeds)]
        if not having:
            continue
        seeds = max(having, key=lambda s: (len(s), len(s[0]["methods"][baseline]["episode_return"])))
        out.append(Row(baseline, np.stack([fraction_curve(r, baseline) for r in seeds]), seed_ids=_seed_ids(seeds),
                       provenance=tuple(seed_provenance(r, baseline) for r in seeds)))
    return out


def _seed_ids(seeds: list[dict]) -> tuple[int, ...]:
    """The training seed of each results dict (its experiment's config's ``train.seed``), or ``()`` where one lacks it."""
    ids = tuple((r.get("config") or {}).get("train", {}).get("seed") for r in seeds)
    return () if None in ids else ids


def table(rows: list[Row], episodes: tuple[int, ...] = EPISODES, reach: float = REACH, fmt=format,
          idle_minutes: dict[str, float] | None = None) -> str:
    """A markdown table: one row per method, the fraction of optimal at ``episodes`` (mean ±
    interval across seeds), the first episode reaching ``reach``, seeds and training minutes; a row
    not every seed of which is traced (:attr:`Row.traced`) is marked †.
    Every number goes through ``fmt(value, spec)`` (the results page passes one that keeps them).
    An episode no row reaches has no column. ``idle_minutes``: preset -> training minutes measured
    on an idle machine (``benchmarks/preset_times.py``), a column beside the runs' own minutes; a
    row takes its preset's figure by the first word of its name (DICP's "darkroom9-dicp (beam 4)")."""
    episodes = tuple(e for e in episodes if any(row.at(e) is not None for row in rows)) or episodes
    head = (["method"] + [f"episode {fmt(e, 'd')}" for e in episodes]
            + [f"first episode ≥ {fmt(100 * reach, '.0f')}%", "seeds", "training (min per seed)"]
            + ([] if idle_minutes is None else ["training, idle machine (min)"]))
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row.name + ("" if row.traced else " †")]
        for e in episodes:
            value = row.at(e)
            cells.append("" if value is None else (fmt(value[0], ".2f") + (f" ± {fmt(value[1], '.2f')}" if row.seeds > 1 else "")))
        first = row.first_reaching(reach)
        cells += ["—" if first is None else fmt(first, "d"), fmt(row.seeds, "d"),
                  "—" if row.minutes is None else fmt(row.minutes, ".1f")]
        if idle_minutes is not None:
            idle = idle_minutes.get(row.name.split(" ")[0]) if row.minutes is not None else None
            cells.append("—" if idle is None else fmt(idle, ".1f"))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\nFraction of the optimal return per episode (the mean over evaluated tasks of each task's return over its "
                 f"own optimal return), mean over training seeds ± Student-t {fmt(CI_LEVEL, 'd')}% interval across seeds (none "
                 f"for one seed).")
    if not all(row.traced for row in rows):
        lines.append("† Made before results recorded the commit, config and devices that made them: its fraction of "
                     "optimal is the mean return over the mean optimal return, which weighs near goals more.")
    return "\n".join(lines)


def paired(a: Row, b: Row) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """``(mean, interval, seeds)``: the per-episode difference ``a - b`` of the fraction of optimal on
    each training seed both rows have, its mean and Student-t 95% interval across those seeds (the
    same seed trains both on the same data and evaluates both on the same tasks and keys, so the
    difference cancels what the seed shares). Raises ``ValueError`` where they share no seed."""
    common = tuple(s for s in a.seed_ids if s in b.seed_ids)
    if not common:
        raise ValueError(f"rows {a.name!r} (seeds {list(a.seed_ids)}) and {b.name!r} (seeds {list(b.seed_ids)}) share no seed")
    length = min(a.fractions.shape[1], b.fractions.shape[1])
    diff = np.stack([a.fractions[a.seed_ids.index(s), :length] - b.fractions[b.seed_ids.index(s), :length] for s in common])
    mean, ci = mean_ci95_t(diff)
    return mean, ci, common


def paired_table(rows: list[Row], pairs: list[tuple[str, str]], episodes: tuple[int, ...] = EPISODES, fmt=format) -> str:
    """A markdown table of :func:`paired` differences, one line per ``(a, b)`` pair of row names, at
    ``episodes`` (those neither row reaches are left out); pairs naming a missing row are skipped."""
    by_name = {row.name: row for row in rows}
    found = [(by_name[a], by_name[b]) for a, b in pairs if a in by_name and b in by_name]
    if not found:
        return ""
    length = min(min(x.fractions.shape[1], y.fractions.shape[1]) for x, y in found)
    episodes = tuple(e for e in episodes if e <= length)
    head = ["difference"] + [f"episode {fmt(e, 'd')}" for e in episodes] + ["seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for a, b in found:
        mean, ci, seeds = paired(a, b)
        cells = [f"{a.name} − {b.name}"] + [fmt(mean[e - 1], "+.2f") + (f" ± {fmt(ci[e - 1], '.2f')}" if len(seeds) > 1 else "")
                                            for e in episodes]
        lines.append("| " + " | ".join(cells + [", ".join(fmt(s, "d") for s in seeds)]) + " |")
    lines.append(f"\nPaired across training seeds: each seed's difference in fraction of optimal, mean ± Student-t "
                 f"{fmt(CI_LEVEL, 'd')}% interval across the seeds both rows have.")
    return "\n".join(lines)


def family(name: str) -> str:
    """The panel a row is drawn in: the first word of its name after the benchmark's
    (``darkroom9-ad-t2mir`` -> ``ad``, ``darkroom9-dicp (beam 4)`` -> ``dicp``), or the whole name."""
    preset = name.split(" ")[0]
    parts = preset.split("-")
    return parts[1] if len(parts) > 1 else preset


def plot(rows: list[Row], path: str, title: str = "") -> str:
    """Small multiples: one panel per family of methods (:func:`family`), each method's mean curve in a
    colour of its own with its band across seeds and its seed count in the legend; the classic baselines
    (rows without training minutes) drawn in grey in every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [row for row in rows if row.minutes is not None]
    baselines = [row for row in rows if row.minutes is None]
    panels: dict[str, list[Row]] = {}
    for row in models:
        panels.setdefault(family(row.name), []).append(row)
    if not panels:
        panels["baselines"] = []
    columns = min(3, len(panels))
    lines_of = -(-len(panels) // columns)
    fig, axes = plt.subplots(lines_of, columns, figsize=(4.6 * columns, 3.4 * lines_of), squeeze=False, sharey=True)
    greys = ("0.15", "0.45", "0.65", "0.8")
    prefix = os.path.commonprefix([row.name for row in models]) if len(models) > 1 else ""
    prefix = prefix[: prefix.rfind("-") + 1]  # the benchmark's name, shared by every preset
    for ax, (name, members) in zip(axes.flat, panels.items()):
        for i, row in enumerate(baselines):
            mean, _ = mean_ci95_t(row.fractions)
            ax.plot(np.arange(1, len(mean) + 1), mean, ls="--", lw=1, color=greys[i % len(greys)], label=row.name)
        handles = []
        for i, row in enumerate(members):
            mean, ci = mean_ci95_t(row.fractions)
            x = np.arange(1, len(mean) + 1)
            label = f"{row.name.removeprefix(prefix)} ({row.seeds} seed{'s' if row.seeds > 1 else ''})"
            (line,) = ax.plot(x, mean, lw=1.6, color=f"C{i % 10}", label=label)
            ax.fill_between(x, np.clip(mean - ci, 0, None), mean + ci, color=line.get_color(), alpha=0.15)
            handles.append(line)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(-0.02, 1.12)
        ax.set_xlabel("episode in context", fontsize=8)
        ax.tick_params(labelsize=8)
        if handles:
            ax.legend(handles=handles, fontsize=6.5, loc="lower right", framealpha=0.8)
    if baselines:  # one legend for the baselines every panel draws
        fig.legend(handles=axes.flat[0].get_lines()[: len(baselines)], loc="upper right", fontsize=7, ncol=len(baselines),
                   frameon=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("return / optimal", fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
