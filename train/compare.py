"""``python -m train compare BENCHMARK``: every method of a common benchmark in one table and one figure.

The runs of preset ``NAME`` and seed ``K`` live in ``OUT_DIR/NAME-seedK`` (``--train`` makes the
missing ones, each exactly as ``python -m train NAME --seed K`` would); the table
(:func:`icrl.compare.table`) and figure go to ``OUT_DIR/BENCHMARK.md`` and ``.png``.
"""

from __future__ import annotations

import os

from icrl.compare import config_hash, plot, rows, table
from train.configs import config_for
from train.presets import benchmarks
from train.experiments import run, saved_results


def run_name(preset: str, seed: int) -> str:
    return f"{preset}-seed{seed}"


def title_of(benchmark: str, num_goals: int, seeds) -> str:
    """The table's and figure's title."""
    return f"{benchmark}: {num_goals} held-out goals, seeds {', '.join(map(str, seeds))}"


def gather(benchmark: str, seeds=(0, 1, 2), out_dir: str = os.path.join("runs", "compare"), train: bool = False,
           presets: tuple[str, ...] | None = None, configure=None):
    """``(rows, num_goals, missing, configs)`` of ``benchmark``: its presets' runs over ``seeds``
    (``train``: the missing ones made) as :class:`icrl.compare.Row`s, the number of held-out goals
    they ran on, the names of runs not found, and the full config of every run found by its hash
    (:func:`icrl.compare.config_hash`, which each seed's provenance names). Raises ``ValueError`` for an unknown benchmark or preset, or when
    no run is found."""
    configure = configure or (lambda preset, seed: config_for(preset, seed=seed, out_dir=out_dir))
    every = benchmarks()
    if benchmark not in every:
        raise ValueError(f"unknown benchmark {benchmark!r}; valid: {sorted(every)}")
    presets = every[benchmark] if presets is None else tuple(presets)
    unknown = sorted(set(presets) - set(every[benchmark]))
    if unknown:
        raise ValueError(f"{unknown} are not presets of {benchmark}; its presets: {list(every[benchmark])}")
    runs, missing, baselines = {}, [], ()
    for preset in presets:
        runs[preset] = []
        for seed in seeds:
            cfg = configure(preset, seed)
            baselines = baselines or cfg.baselines
            name = run_name(preset, seed)
            results = saved_results(cfg, name)
            if results is None and train:
                results = run(cfg, name)
            if results is None:
                missing.append(name)
            else:
                runs[preset].append(results)
    if not any(runs.values()):
        raise ValueError(f"no runs of {benchmark} in {out_dir!r} (looked for {missing[:3]}…): add --train to make them")
    num_goals = max(r.get("pool_size", r["num_goals"]) for seeds_ in runs.values() for r in seeds_)  # the whole pool
    configs = {config_hash(r["config"]): r["config"] for seeds_ in runs.values() for r in seeds_ if "config" in r}
    return rows(runs, baselines), num_goals, missing, configs


def compare(benchmark: str, seeds=(0, 1, 2), out_dir: str = os.path.join("runs", "compare"), train: bool = False,
            presets: tuple[str, ...] | None = None, configure=None) -> tuple[str, str]:
    """Gather (``train``: make the missing) runs of every preset of ``benchmark``; write its table and figure and
    return their paths. ``configure(preset, seed)`` gives each run's config (default: the preset with that seed,
    in ``out_dir``). Raises ``ValueError`` for an unknown benchmark or preset, or when no run is found."""
    found, num_goals, missing, _ = gather(benchmark, seeds, out_dir, train, presets, configure)
    title = title_of(benchmark, num_goals, seeds)
    if missing:
        print(f"not in the table (no run with today's preset; --train makes them): {', '.join(missing)}")
    text = f"# {title}\n\n" + table(found) + "\n"
    md = os.path.join(out_dir, f"{benchmark}.md")
    with open(md, "w") as f:
        f.write(text)
    print(text)
    return md, plot(found, os.path.join(out_dir, f"{benchmark}.png"), title)


__all__ = ["compare", "gather", "run_name", "title_of"]
