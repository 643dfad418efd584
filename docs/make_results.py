"""Regenerate docs/RESULTS.md, docs/results.json, the plots and README's headline table from the named experiments.

    python docs/make_results.py [--seeds 0 1 2] [--only NAME ...] [--rerun NAME ...] [--render-only]
    python docs/make_results.py --benchmarks darkroom9 keydoor9   # gather the common benchmark's runs (runs/compare)

Every experiment runs at its CPU preset once per training seed (``runs/results/NAME-seedK``),
and each trained model is evaluated twice: on held-out tasks (the reported figures) and
on training-split tasks (the split any setting may be chosen on). A run whose
results exist with the same config is reused unless NAME is given to ``--rerun``.
The figures go to ``docs/results.json``; ``docs/RESULTS.md`` is rendered from that
file alone, and every number in it passes through :class:`Numbers`, so a test can
check that the page holds no number the code did not produce
(``tests/test_docs.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icrl.metrics import CI_LEVEL, mean_ci95_t  # noqa: E402
from icrl.plot import plot_results  # noqa: E402
from icrl.results import REGRET, kind  # noqa: E402

DOCS = os.path.dirname(os.path.abspath(__file__))
SUMMARY = os.path.join(DOCS, "results.json")
PAGE = os.path.join(DOCS, "RESULTS.md")
OUT_DIR = os.path.join("runs", "results")
ORDER = ["bandit-dpt", "bandit-dpt-s5", "linear-bandit-dpt", "bandit-rl2-s5", "bandit-rl2-gru", "darkroom-dpt",
         "darkroom-dpt-paper", "darkroom-ad", "darkroom-ad-qlearning", "darkroom-ad-s5", "darkroom-rl2-s5", "darkroom-rl2-gru",
         "keydoor-dpt", "keydoor-ad"]
#: The headline experiments: each reported over at least three training seeds (tests/test_docs.py).
HEADLINE = ("bandit-dpt", "darkroom-dpt", "darkroom-ad")
#: The yardsticks a model's figure is divided by, where an experiment has them.
REFERENCES = ("thompson", "lin-thompson", "ucb", "linucb", "psrl", "posterior", "posterior-episode", "q-learning")
#: The seeds every method of a common benchmark is run on; further seeds, where some methods have them, add to those
#: rows and are never listed as missing for the others.
BENCHMARK_SEEDS = (0, 1, 2)
#: A number as the page prints it: not part of a name such as ``darkroom-ad-s5``.
NUMBER = re.compile(r"(?<![\w.\-])\d(?:[\d,]*\d)?(?:\.\d+)?")

#: Experiments whose settings were chosen with held-out figures visible (said on the page); the others were
#: chosen on training-split figures alone.
HELD_OUT_SEEN = ("bandit-dpt", "bandit-dpt-s5", "bandit-rl2-s5", "darkroom-dpt", "darkroom-ad")

# How each preset was chosen, in words only (every number on the page comes from results.json).
NOTES = {
    "bandit-dpt": "Contexts: half Dirichlet-random, half Thompson sampling, a mixture set by hand while held-out figures "
    "were visible. The step count, learning rate, depth and token embedding were then chosen on training-split tasks "
    "alone, among candidates trained side by side over three seeds for their regret against training time "
    "(benchmarks/main_job.py, docs/streams.md), and so were rotary positions in place of ALiBi, whose recency bias a "
    "bandit's posterior (every pull counts alike) has to unlearn.",
    "bandit-dpt-s5": "Contexts as bandit-dpt, from a fixed dataset; more steps than the transformer, in microbatches, "
    "because an S5 step costs less on CPU. The step count and the data source were chosen with the first seed's held-out "
    "figures visible: a streamed run given the same time did worse (docs/streams.md).",
    "linear-bandit-dpt": "Contexts: half Dirichlet-random, half linear Thompson sampling (set by hand, as bandit-dpt). "
    "Offline, ridge-greedy and linear-lcb know the arm features; the model has to infer them.",
    "darkroom-dpt": "DPT's label drawn as PSRL draws it: the optimal action of a goal sampled from the posterior once "
    "per episode and redrawn when ruled out (`--labels collector` with PSRL as the collector). The deployed model "
    "then commits to a hypothesis for an episode as PSRL does. Chosen on training-split goals after the exact "
    "posterior showed that the paper's label cannot commit (`benchmarks/darkroom_dpt.py`, and darkroom-dpt-paper).",
    "darkroom-dpt-paper": "The paper's label (the true goal's optimal action at uniform query states), contexts of "
    "whole episodes from a Dirichlet-random walker and PSRL, deployed with a per-step context and with the paper's "
    "episode-frozen one. `posterior` and `posterior-episode` are the policies it converges to with unlimited data "
    "and capacity, one per deployment: its ceilings.",
    "darkroom-ad": "AD distils PSRL's learning histories: windows of four episodes that begin at any step, so the "
    "sliding window the model keeps at deployment is what it was trained on. PSRL was chosen after the Q-learning "
    "source (darkroom-ad-qlearning) had been seen on held-out goals as well as on training ones.",
    "darkroom-ad-qlearning": "The AD paper's kind of source, an RL algorithm learning from scratch: optimistic "
    "Q-learning, windows of four episodes taken every fourth episode of its histories. It climbs on training goals "
    "and generalises less to held-out ones, which it never saw as goals.",
    "darkroom-ad-s5": "As darkroom-ad with the S5 backbone, deployed on a bounded state (its deployment window: two S5 "
                      "states take in every step, restarted in turn every four episodes, the older acting). With one state "
                      "over every episode in context, ten times its training length, one seed's return fell over the "
                      "episodes, on training-split goals too; the window was chosen there (benchmarks/deploy_window.py).",
    "bandit-rl2-s5": "Meta-RL, no dataset: PPO on trials of one task, the S5 state reset between tasks only. "
    "Undiscounted (regret is an undiscounted sum), chosen after a discounted run had been seen on held-out "
    "tasks; the step count is what fits in ten minutes on two idle cores.",
    "bandit-rl2-gru": "As bandit-rl2-s5 with a GRU policy of the same width and depth.",
    "darkroom-rl2-s5": "Meta-RL on trials of four episodes of one goal. PPO optimises for the training goals: the "
    "training-split column shows what the policy learned there, the held-out one how little of it transfers to "
    "cells that were never goals (DPT and AD imitate PSRL, whose prior spans every cell).",
    "darkroom-rl2-gru": "As darkroom-rl2-s5 with a GRU policy of the same width and depth.",
    "keydoor-dpt": "As darkroom-dpt: labels drawn as PSRL draws them, over (key, door) pairs.",
    "keydoor-ad": "AD on PSRL's histories: tabular Q-learning with reward-count phases climbs too slowly on "
    "Key-to-Door to distil (`python -m train baselines`).",
}


class Numbers:
    """Formats every number the page prints and keeps each formatted string, so a test can
    check that the page holds no number that did not come from the data."""

    def __init__(self):
        self.printed: list[str] = []

    def __call__(self, value, spec: str = ".2f") -> str:
        text = format(value, spec)
        self.printed.append(text)
        return text


# --- running ---------------------------------------------------------------------------
def _run_or_reuse(cfg, name: str, rerun: bool, suffix: str) -> dict:
    from train.experiments import run, saved_results

    return (None if rerun else saved_results(cfg, name, suffix)) or run(cfg, name, progress=False)


def run_all(names, seeds, rerun) -> dict:
    """Train and evaluate every experiment at every seed; returns the summary written to results.json."""
    from train.configs import config_for, replace

    experiments = {}
    for name in names:
        per_seed = []
        for seed in seeds:
            cfg = config_for(name, seed=seed, out_dir=OUT_DIR)
            run_name = f"{name}-seed{seed}"
            if name in rerun:
                shutil.rmtree(os.path.join(OUT_DIR, run_name), ignore_errors=True)
            test = _run_or_reuse(cfg, run_name, name in rerun, "")
            train_split = _run_or_reuse(replace(cfg, eval_split="train"), run_name, name in rerun, "_train")
            per_seed.append(_seed_summary(seed, test, train_split))
        experiments[name] = {"config": _config_summary(test), "seeds": per_seed}
    return {"format": "icrl-results-summary/1", "experiments": experiments}


def _curve(results: dict, method: str) -> list[float]:
    m = results["methods"][method]
    return m["cumulative_regret"] if kind(results) == REGRET else m["episode_return"]


def _seed_summary(seed: int, test: dict, train_split: dict) -> dict:
    out = {
        "seed": seed,
        "train_seconds": test.get("train_seconds"),
        "final_loss": test.get("final_loss"),
        "final_train_loss": test.get("final_train_loss"),
        "backend": test.get("backend", "cpu"),
        "test": {m: _curve(test, m) for m in test["methods"]},
        "train_split": {m: _curve(train_split, m) for m in train_split["methods"]},
        "num_tasks": test["num_tasks"],
        "provenance": test.get("provenance"),  # commit, dirty tree, hash of the checkpoint record
        "full_config": test.get("config"),
    }
    for key in ("optimal_return", "num_goals"):
        if key in test:
            out[key] = test[key]
            out["train_split_" + key] = train_split[key]
    if "offline" in test:
        out["offline"] = {m: v["suboptimality"] for m, v in test["offline"].items()}
    return out


def _config_summary(results: dict) -> dict:
    cfg = {**results["config"], **(results["config"].get("method") or {})}  # the method's settings read as common ones
    keys = ("objective", "env", "backbone", "num_arms", "size", "horizon", "num_train_tasks", "context_episodes",
            "eval_episodes", "eval_tasks")
    return {"kind": kind(results), **{k: cfg[k] for k in keys}, "data_source": cfg.get("data_source", "fixed"),
            "pool_size": cfg.get("pool_size"), "train_steps": cfg["train"]["train_steps"],
            "batch_size": cfg["train"]["batch_size"]}


# --- rendering -------------------------------------------------------------------------
def _model_name(methods) -> str:
    return next(m for m in methods if m.startswith(("DPT", "AD", "RL2")))


def _across(seeds: list[dict], get) -> tuple[float, float]:
    mean, ci = mean_ci95_t(np.array([get(s) for s in seeds], dtype=np.float64))
    return float(mean), float(ci)


def _pm(n, seeds, ci, spec: str = ".2f") -> str:
    """`` ± ci`` across seeds, or nothing for a single seed (no interval to give)."""
    return f" ± {n(ci, spec)}" if len(seeds) > 1 else ""


def render(summary: dict) -> tuple[str, list[str]]:
    """The page for ``summary`` and the list of every number it printed."""
    n = Numbers()
    lines = ["# Headline results", "",
             "Regenerated by `python docs/make_results.py` from `docs/results.json`. Every experiment runs at its CPU "
             "preset once per training seed; figures are means over seeds with Student-t " + n(CI_LEVEL, "d") + "% "
             "intervals across seeds (the interval over tasks within one seed is narrower). Every method runs on the "
             "same tasks with the same keys within a seed. 'Training split' evaluates the same models on tasks of the "
             "training split, the split settings are meant to be chosen on; each experiment says whether its settings "
             "were chosen there alone or with held-out figures visible, and which commit of the code made its runs. "
             "Training times were taken while other jobs shared the machine's two cores, so they overstate an idle "
             "machine's. The headline experiments (" + ", ".join(HEADLINE) + ") run over several seeds; an experiment "
             "run with one seed shows no interval.", ""]
    for name, exp in summary["experiments"].items():
        cfg, seeds = exp["config"], exp["seeds"]
        first = seeds[0]
        model = _model_name(first["test"])
        lines += [f"## {name}", ""]
        room = f"{n(cfg['size'], 'd')}×{n(cfg['size'], 'd')}, " if cfg["kind"] != REGRET else f"{n(cfg['num_arms'], 'd')} arms, "
        head = f"{cfg['objective'].upper()}, {cfg['backbone']}, {cfg['env']} ({room}horizon {n(cfg['horizon'], 'd')}); "
        plural = "s" if len(seeds) > 1 else ""
        took = f"Training took {n(_across(seeds, lambda s: s['train_seconds'])[0], '.0f')} s per seed"
        if cfg["objective"] == "rl2":  # no dataset and no labels: fresh trials every update, no validation loss
            lines.append(
                f"{head}{n(cfg['train_steps'], ',d')} PPO updates of {n(cfg['batch_size'], 'd')} fresh training-split "
                f"trials ({n(cfg['context_episodes'], 'd')} episode{'s' if cfg['context_episodes'] > 1 else ''} each); "
                f"{n(len(seeds), 'd')} seed{plural}. {took}."
            )
        else:
            if cfg.get("data_source", "fixed") == "fixed":
                data = f"{n(cfg['num_train_tasks'], ',d')} training tasks"
            elif cfg["objective"] == "dpt":
                data = "streamed data (every batch fresh training-split tasks and contexts)"
            else:
                data = f"a pool of {n(cfg['pool_size'], ',d')} learning histories refreshed in chunks as training goes"
            lines.append(
                f"{head}{data}, {n(cfg['train_steps'], ',d')} steps of batch "
                f"{n(cfg['batch_size'], 'd')}; {n(len(seeds), 'd')} seed{plural}. {took}; validation loss (fresh training-split contexts) "
                f"{n(_across(seeds, lambda s: s['final_loss'])[0], '.3f')} (last training batch "
                f"{n(_across(seeds, lambda s: s['final_train_loss'])[0], '.3f')})."
            )
        lines.append("")
        if name in NOTES:
            lines += [NOTES[name], ""]
        lines += [_chosen(name) + " " + _commits(n, seeds), ""]
        lines += _bandit_table(n, seeds, model) if cfg["kind"] == REGRET else _grid_table(n, seeds, model, cfg)
        lines += ["", f"![{name}]({name}.png)", ""]
    lines += _benchmark_sections(n, summary.get("benchmarks", {}), summary.get("preset_times"))
    lines += _choice_section(n, summary.get("choices", []))
    return "\n".join(lines) + "\n", n.printed


#: The episodes a choice's table reports.
CHOICE_EPISODES = (1, 5, 10, 20, 40)
#: Agents a choice's table leaves out: those every run has, which compare nothing.
CHOICE_SKIPPED = ("random", "oracle", "psrl", "q-learning")


def gather_choices(run_dirs: list[str]) -> list[dict]:
    """The runs settings were chosen on (``--choices RUN_DIR ...``): for each, its name, where it was
    evaluated (a fold of the training goals, ``split_seed``, and the split), every deployed agent's fraction
    of optimal per episode, and its provenance; refused where a run has no results or is not a grid world's."""
    from icrl.compare import fraction_curve, seed_provenance
    from icrl.results import load_results

    out = []
    for run_dir in run_dirs:
        results = load_results(os.path.join(run_dir, "results.json"))
        if kind(results) == REGRET:
            raise SystemExit(f"--choices {run_dir}: a choice is read from a grid world's returns, this run reports regret")
        cfg = results.get("config") or {}
        agents = [m for m in results["methods"] if m not in CHOICE_SKIPPED]
        out.append({"name": os.path.basename(os.path.normpath(run_dir)), "split_seed": cfg.get("split_seed", 0),
                    "split": results.get("split", "test"), "num_goals": results.get("num_goals"), "seed": cfg.get("train", {}).get("seed"),
                    "agents": {m: np.round(fraction_curve(results, m), 4).tolist() for m in agents},
                    "provenance": seed_provenance(results, agents[0])})
    return out


def _choice_section(n, choices: list[dict]) -> list[str]:
    """Settings chosen away from the benchmark's held-out goals, with the runs they were chosen on."""
    if not choices:
        return []
    lines = ["# Settings chosen on folds of the training goals", "",
             "A fold (`--split-seed K`, K positive) splits the benchmark's training goals alone into fold-training and "
             "fold-held-out goals, so a setting judged there never saw a benchmark held-out goal. darkroom9-dicp's next-cell "
             "head of its own (`detach_next_state`) was first chosen on a fold drawn from every goal, which held some of "
             "the benchmark's held-out goals; it was checked again on a fold of the training goals alone, with the runs "
             "below (one training seed each, evaluated on the fold's held-out goals; fraction of optimal per episode). "
             "The check holds the choice for planning off, which the head of its own keeps at AD's level where the shared "
             "layers fall below it, but not for the preset's own agent, beams of forty, which the shared layers serve "
             "better on this fold and seed: the setting is to be settled on more seeds of the fold (docs/dicp.md).", "",
             "| run | agent | " + " | ".join(f"episode {n(e, 'd')}" for e in CHOICE_EPISODES) + " | fold | goals | code |",
             "|" + " --- |" * (len(CHOICE_EPISODES) + 5)]
    for run in choices:
        made = run.get("provenance") or {}
        for agent, curve in run["agents"].items():
            code = f"`{n(made['commit'][:10], 's')}`" if made.get("commit") else "—"
            cells = [n(curve[e - 1]) if e <= len(curve) else "" for e in CHOICE_EPISODES]
            lines.append(f"| {run['name']} | {agent} | " + " | ".join(cells) + f" | {n(run['split_seed'], 'd')} | "
                         f"{n(run['num_goals'], 'd')} | {code} |")
    return lines + [""]


#: The common benchmark's rooms, in the order the page shows them.
BENCHMARK_ORDER = ("darkroom9", "keydoor9", "biasedroom9", "darkroom20")
#: Rows whose paired differences (same seeds, same tasks and keys) each benchmark's section gives: RA-DT against
#: retrieving at random, against AD with its window alone, with as many tokens, and with the whole context.
PAIRED = {room: [(f"{room}-radt", f"{room}-{other}") for other in ("radt-random", "ad-short", "ad-matched", "ad")]
          for room in ("darkroom9", "darkroom20")}


def gather_benchmark(name: str, seeds, earlier: dict | None = None) -> dict:
    """The runs of benchmark ``name`` in runs/compare (as ``python -m train compare NAME`` leaves them), for
    results.json: each preset's and baseline's fraction of optimal per seed and episode, and what is missing.

    ``earlier``: the benchmark's entry already in results.json, whose figures are kept seed by seed where
    runs/compare has no run for them (a run found replaces its seed's figures), so that runs made at
    different times, or on different machines, add up to one table."""
    from icrl.compare import merge_rows, plot
    from train.compare import gather, run_name, title_of
    from train.presets import benchmarks

    presets = benchmarks()[name]

    try:
        found, num_goals, _, found_configs = gather(name, tuple(seeds))
    except ValueError:
        if not earlier:
            raise
        found, num_goals, found_configs = [], 0, {}
    kept = [row for row in stored_rows(earlier) if row.seed_minutes == () or _preset_of(row.name) in presets] if earlier else []
    rows = [_only_seeds(row, seeds) for row in merge_rows(kept, found)]
    rows = [row for row in rows if row is not None]
    place = {preset: i for i, preset in enumerate(presets)}  # methods in the presets' order, then the baselines
    rows.sort(key=lambda row: (not row.seed_minutes, place.get(_preset_of(row.name), len(place))))
    num_goals = max(num_goals, earlier["num_goals"] if earlier else 0)
    have = {(_preset_of(row.name), s) for row in rows if row.seed_minutes for s in row.seed_ids}
    missing = [run_name(p, s) for p in presets for s in seeds if s in BENCHMARK_SEEDS and (p, s) not in have]
    plot(rows, os.path.join(DOCS, f"{name}.png"), title_of(name, num_goals, seeds))
    configs = {**((earlier or {}).get("configs") or {}), **found_configs}  # config hash -> full config
    used = {p["config_sha256"] for r in rows for i in range(r.seeds) if (p := r.seed_provenance(i))}
    return {"seeds": list(seeds), "num_goals": num_goals, "missing": missing,
            "configs": {h: c for h, c in configs.items() if h in used},
            "rows": [{"name": r.name, "seeds": list(r.seed_ids), "fractions": np.round(r.fractions, 4).tolist(),
                      "seed_minutes": [round(m, 4) for m in r.seed_minutes] or None,
                      "provenance": [r.seed_provenance(i) for i in range(r.seeds)]} for r in rows]}


def _preset_of(row_name: str) -> str:
    """The preset a row's name starts with (``keydoor9-dicp (planning off) [160 of 1296 tasks]``)."""
    return row_name.split(" ")[0]


def _only_seeds(row, seeds):
    """``row`` cut to ``seeds`` (None if it has none of them)."""
    from icrl.compare import Row

    keep = [i for i, s in enumerate(row.seed_ids) if s in seeds]
    if not keep:
        return None
    minutes = tuple(row.seed_minutes[i] for i in keep) if row.seed_minutes else ()
    return Row(row.name, row.fractions[keep], tuple(row.seed_ids[i] for i in keep), minutes,
               tuple(row.seed_provenance(i) for i in keep))


def stored_rows(bench: dict) -> list:
    """The rows of one benchmark entry of results.json. An entry written before rows named their seeds
    (``minutes``: a mean) has them inferred: a method's seeds are the entry's less those its ``missing``
    list names, a baseline's every one; raises ``ValueError`` where that does not account for a row."""
    from icrl.compare import Row

    out = []
    for r in bench["rows"]:
        fractions = np.asarray(r["fractions"], np.float64)
        if "seeds" in r:
            ids, minutes = tuple(r["seeds"]), tuple(r["seed_minutes"] or ())
        else:
            timed = r["minutes"] is not None
            ids = tuple(s for s in bench["seeds"] if not (timed and f"{_preset_of(r['name'])}-seed{s}" in bench["missing"]))
            minutes = (r["minutes"],) * len(ids) if timed else ()
        if len(ids) != len(fractions):
            raise ValueError(f"results.json row {r['name']!r}: {len(fractions)} curves but seeds {list(ids)}")
        made = tuple(r.get("provenance") or ())  # rows written before provenance have none
        if made and len(made) != len(ids):
            raise ValueError(f"results.json row {r['name']!r}: {len(made)} provenance entries but seeds {list(ids)}")
        out.append(Row(r["name"], fractions, ids, minutes, made))
    return out


def read_preset_times(path: str) -> dict:
    """The figures ``benchmarks/preset_times.py --json`` wrote to ``path``, checked."""
    try:
        with open(path) as f:
            figures = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"--preset-times {path}: cannot read it ({err})") from None
    if not isinstance(figures, dict) or figures.get("format") != "icrl-preset-times/1":
        raise SystemExit(f"--preset-times {path}: not written by benchmarks/preset_times.py --json "
                         f"(format {figures.get('format') if isinstance(figures, dict) else None!r}, expected 'icrl-preset-times/1')")
    missing = [k for k in ("devices", "cores", "rounds", "date", "presets") if k not in figures]
    if missing or not figures["presets"]:
        raise SystemExit(f"--preset-times {path}: missing {missing or ['presets']}")
    return figures


def _benchmark_sections(n, benchmarks: dict, preset_times: dict | None = None) -> list[str]:
    from icrl.compare import paired_table, table

    if not benchmarks:
        return []
    lines = ["# The common benchmark", "",
             "Every method on the grid-world protocol of the AD, ICEE and DICP papers (docs/methods.md), gathered by "
             "`python -m train compare NAME` from runs made as `python -m train PRESET --seed K` would make them. "
             "The presets' sizes were set before any of their runs and were not tuned on held-out goals; "
             "ICEE's design, and DPT's deployment on windows of whole episodes once its held-out return had been seen to "
             "fall past its context, were chosen on training-split goals (docs/methods.md). "
             "DICP's rows are one trained model per seed deployed several ways "
             "(beam widths, planning off); darkroom9-dicp's own agent, beams of forty, was added after the first seed's held-out "
             "returns were seen to grow with the width past the paper's ten (docs/dicp.md), and its two further seeds, "
             "with darkroom9-ad-qlearning's, after the first three seeds' paired difference from AD at episode five held zero "
             "within its interval; its next-cell head of its own (detach_next_state) was chosen on another fold of the goals "
             "(--split-seed K) after the held-out planning-off row fell below AD's, and every seed was trained again with it "
             "(that fold held some of the benchmark's held-out goals; the choice was checked again on a fold of the training "
             "goals alone: the last section); "
             "keydoor9's DICP runs plan on "
             "a sample of the held-out pairs drawn per seed, as their rows say (AD evaluated again on the same pairs: docs/dicp.md). darkroom20 is RA-DT's long-episode room "
             "(docs/radt.md).", "",
             "Each seed's figures name the commit, the full config and the devices that made them (results.json keeps them: "
             "docs/results-format.md); a row marked † has a seed made before that was recorded, and its fraction of optimal "
             "is the mean return over the mean optimal return rather than the mean over goals of each goal's fraction. A "
             "batch is drawn from keys that do not depend on the number of devices, so the same preset and seed give the "
             "same figures on one host device or eight; meta-RL (rl2) is the exception, each device collecting its own "
             "trials: its results record the device count.", "",
             "'Training (min per seed)' is the runs' own wall time. Many runs shared the two cores with other runs and tests "
             "(up to five runs at once, some pinned to one core), which stretched their minutes, several times over for "
             "some: the column records the runs, it does not measure the presets."]
    idle = None
    if preset_times:
        idle = {p: t["minutes"] for p, t in preset_times["presets"].items()}
        longest = max(idle, key=idle.get)
        over = [p for p, minutes in idle.items() if minutes > 10]
        lines[-1] += (" 'Training, idle machine' measures them: each preset's training step timed in turns with every other "
                      "preset's on one otherwise idle machine, best of " + n(preset_times["rounds"], "d") + " rounds, times "
                      "its steps, with " + n(preset_times["devices"], "d") + " host devices on " + n(preset_times["cores"], "d")
                      + " cores (" + n(preset_times["date"], "s") + "; `python benchmarks/preset_times.py --json FILE`, "
                      "gathered by `python docs/make_results.py --preset-times FILE`). The longest, " + longest + ", trains in "
                      + n(idle[longest], ".1f") + " minutes there" + ("; over ten minutes: " + ", ".join(over) if over else "")
                      + ". The column times the code as it is; runs made with an earlier form of a layer that computed the "
                      "same function (T2MIR's expert layer, S5's projections, long-window attention) keep their own minutes "
                      "(docs/performance.md, docs/methods.md).")
    lines.append("")
    for name in [b for b in BENCHMARK_ORDER if b in benchmarks]:
        bench = benchmarks[name]
        rows = stored_rows(bench)
        n.printed.extend(r["name"] for r in bench["rows"])  # row names are the runs' own (DICP's "beam 4")
        seeds = f"training seeds {', '.join(n(s, 'd') for s in bench['seeds'])}"
        if set(bench["seeds"]) - set(BENCHMARK_SEEDS):
            seeds += (f" (every method on {', '.join(n(s, 'd') for s in BENCHMARK_SEEDS)}; the seeds column says which "
                      "rows have more)")
        lines += [f"## {name}", "", f"Held-out goals: {n(bench['num_goals'], 'd')}; {seeds}.", "",
                  table(rows, fmt=n, idle_minutes=idle), ""]
        differences = paired_table(rows, PAIRED.get(name, []), fmt=n)
        if differences:
            lines += [differences, ""]
        if bench["missing"]:
            lines += ["Not yet run: " + ", ".join(f"`{m}`" for m in bench["missing"]) + ".", ""]
        lines += [f"![{name}]({name}.png)", ""]
    return lines


def _chosen(name: str) -> str:
    if name in HELD_OUT_SEEN:
        return "Settings chosen with held-out figures visible."
    return "Settings chosen on training-split figures alone."


def _commits(n, seeds) -> str:
    """Which code made the runs, per seed: the commit (marked where the tree had uncommitted changes)
    and the hash of the checkpoint record, or that the runs predate provenance records."""
    parts, missing = [], []
    for s in seeds:
        p = s.get("provenance")
        if not p or not p.get("commit"):
            missing.append(n(s["seed"], "d"))
            continue
        dirty = " with uncommitted changes" if p.get("dirty") else ""
        parts.append(f"seed {n(s['seed'], 'd')}: commit `{n(p['commit'][:10], 's')}`{dirty}, record "
                     f"`{n(p['record_sha256'][:12], 's')}`")
    out = ("Code: " + "; ".join(parts) + ".") if parts else ""
    if missing:
        out += (" " if out else "") + (f"Seed{'s' if len(missing) > 1 else ''} {', '.join(missing)}: made before results "
                                       "recorded their commit (rerun with `--rerun` to record it).")
    return out


def _ratios(n, seeds, model, get, what: str) -> list[str]:
    out = []
    for ref in REFERENCES:
        if ref in seeds[0]["test"]:
            mean, ci = _across(seeds, lambda s: get(s, model) / get(s, ref))
            out.append(f"- {model} / {ref}, {what}: **{n(mean)}×{_pm(n, seeds, ci)}**")
    return out


def _bandit_table(n, seeds, model) -> list[str]:
    steps = len(seeds[0]["test"][model])
    lines = [f"{n(seeds[0]['num_tasks'], ',d')} held-out tasks per seed. Cumulative regret at step {n(steps, 'd')}:", "",
             "| method | held-out (± across seeds) | training split |", "| --- | --- | --- |"]
    for m in seeds[0]["test"]:
        mean, ci = _across(seeds, lambda s: s["test"][m][-1])
        train_mean, _ = _across(seeds, lambda s: s["train_split"][m][-1])
        lines.append(f"| {m} | {n(mean)}{_pm(n, seeds, ci)} | {n(train_mean)} |")
    lines.append("")
    lines += _ratios(n, seeds, model, lambda s, m: s["test"][m][-1], "held-out regret")
    for m in seeds[0].get("offline", {}):
        mean, ci = _across(seeds, lambda s: s["offline"][m])
        lines.append(f"- offline suboptimality, {m}: {n(mean, '.4f')}{_pm(n, seeds, ci, '.4f')}")
    return lines


def _grid_table(n, seeds, model, cfg) -> list[str]:
    optimal = seeds[0]["optimal_return"]
    episodes = len(seeds[0]["test"][model])
    lines = [f"{n(seeds[0]['num_goals'], 'd')} held-out tasks (every one in the split's pool), each run with several keys ({n(seeds[0]['num_tasks'], 'd')} "
             f"rollouts per seed); {n(episodes, 'd')} episodes in context; optimal return {n(optimal)}.", "",
             "| method | first episode | last episode (± across seeds) | fraction of optimal | training split, last episode |",
             "| --- | --- | --- | --- | --- |"]
    for m in seeds[0]["test"]:
        first, _ = _across(seeds, lambda s: s["test"][m][0])
        last, ci = _across(seeds, lambda s: s["test"][m][-1])
        frac, _ = _across(seeds, lambda s: s["test"][m][-1] / s["optimal_return"])
        train_frac, _ = _across(seeds, lambda s: s["train_split"][m][-1] / s["train_split_optimal_return"])
        lines.append(f"| {m} | {n(first)} | {n(last)}{_pm(n, seeds, ci)} | {n(100 * frac, '.0f')}% | {n(100 * train_frac, '.0f')}% of optimal |")
    lines.append("")
    lines += _ratios(n, seeds, model, lambda s, m: s["test"][m][-1], "last episode")
    return lines


#: README's headline table sits between these lines, rendered by :func:`render_readme_table`.
README = os.path.join(os.path.dirname(DOCS), "README.md")
README_START = "<!-- headline table: python docs/make_results.py --render-only writes it from docs/results.json -->"
README_END = "<!-- end of headline table -->"


def _yardstick(seeds) -> str | None:
    return next((r for r in REFERENCES if r in seeds[0]["test"]), None)


#: The common benchmark's rows README shows: each method's own preset, then the classic yardsticks.
README_BENCHMARK = ("darkroom9", ("darkroom9-ad", "darkroom9-dpt", "darkroom9-ad-s5", "darkroom9-radt", "darkroom9-dicp",
                                  "darkroom9-icee", "darkroom9-rl2-s5", "psrl", "q-learning"))
#: The episodes README's benchmark table reports.
README_EPISODES = (1, 10, 40)


def render_readme_table(summary: dict) -> tuple[str, list[str]]:
    """README's headline tables (and the list of every number printed, as :func:`render`): the common
    benchmark's rows, fraction of optimal at :data:`README_EPISODES` (± across seeds); then the bandit
    experiments, the model's regret beside its yardstick's on the same tasks. Each column means one thing."""
    n = Numbers()
    bench_name, wanted = README_BENCHMARK
    lines = []
    bench = summary.get("benchmarks", {}).get(bench_name)
    if bench:
        rows = {row.name: row for row in stored_rows(bench)}
        lines += [f"The common benchmark, {bench_name} ({n(bench['num_goals'], 'd')} held-out goals): return as a fraction "
                  f"of optimal by episode in context ([the whole table](docs/RESULTS.md#{bench_name})).", "",
                  "| method | " + " | ".join(f"episode {n(e, 'd')}" for e in README_EPISODES) + " | seeds |",
                  "|" + " --- |" * (len(README_EPISODES) + 2)]
        for name in wanted:
            row = rows.get(name)
            if row is None:
                continue
            cells = []
            for e in README_EPISODES:
                value = row.at(e)
                cells.append("" if value is None else n(value[0]) + (f" ± {n(value[1])}" if row.seeds > 1 else ""))
            mark = "" if row.traced else " †"
            lines.append(f"| {name}{mark} | " + " | ".join(cells) + f" | {n(row.seeds, 'd')} |")
        if not all(rows[name].traced for name in wanted if name in rows):
            lines += ["", "† made before results recorded their commit, config and devices (docs/RESULTS.md)."]
        lines.append("")
    lines += ["| bandit experiment | model's regret (± across seeds) | yardstick's regret | seeds | training (CPU) |",
              "| --- | --- | --- | --- | --- |"]
    for name, exp in summary["experiments"].items():
        cfg, seeds = exp["config"], exp["seeds"]
        if cfg["kind"] != REGRET:
            continue
        model, ref = _model_name(seeds[0]["test"]), _yardstick(seeds)
        mean, ci = _across(seeds, lambda s: s["test"][model][-1])
        steps = n(len(seeds[0]["test"][model]), "d")
        against = "—"
        if ref is not None:
            r_mean, r_ci = _across(seeds, lambda s: s["test"][ref][-1])
            against = f"{ref} {n(r_mean)}{_pm(n, seeds, r_ci)}"
        minutes = n(_across(seeds, lambda s: s["train_seconds"])[0] / 60, ".0f")
        lines.append(f"| [{name}](docs/RESULTS.md#{name}) | {model}: {n(mean)}{_pm(n, seeds, ci)} after {steps} pulls | "
                     f"{against} | {n(len(seeds), 'd')} | {minutes} min |")
    return "\n".join(lines) + "\n", n.printed


def readme_with_table(readme: str, table: str) -> str:
    """``readme`` with the text between its headline-table markers replaced by ``table``."""
    if README_START not in readme or README_END not in readme:
        raise ValueError(f"README.md lacks the headline table's markers {README_START!r} ... {README_END!r}")
    head, rest = readme.split(README_START, 1)
    return head + README_START + "\n" + table + README_END + rest.split(README_END, 1)[1]


def aggregate_results(exp: dict, name: str) -> dict:
    """A results dict whose curves are the means over seeds, with Student-t intervals across seeds (for plotting)."""
    seeds, cfg = exp["seeds"], exp["config"]
    key = "cumulative_regret" if cfg["kind"] == REGRET else "episode_return"
    methods = {}
    for m in seeds[0]["test"]:
        mean, ci = mean_ci95_t(np.array([s["test"][m] for s in seeds]), axis=0)
        methods[m] = {key: mean.tolist(), key + "_ci95": ci.tolist()}
    out = {"schema": "icrl-results/1", "env": {"name": cfg["env"], "kwargs": {}}, "num_tasks": seeds[0]["num_tasks"],
           "split": "test", "methods": methods, "experiment": name}
    if "optimal_return" in seeds[0]:
        out["optimal_return"] = seeds[0]["optimal_return"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these; keep the others' figures")
    parser.add_argument("--rerun", nargs="*", default=[], metavar="NAME", help="experiments to train again")
    parser.add_argument("--render-only", action="store_true", help="redraw the page and plots from docs/results.json")
    parser.add_argument("--benchmarks", nargs="+", default=[], metavar="NAME", choices=BENCHMARK_ORDER,
                        help="gather these common benchmarks' runs from runs/compare into the summary (nothing is trained); "
                             "a run found replaces its seed's figures, the summary's other figures are kept")
    parser.add_argument("--preset-times", default=None, metavar="FILE",
                        help="put the idle-machine training minutes that benchmarks/preset_times.py --json wrote to FILE into "
                             "the summary (the benchmark tables' last column), replacing any earlier")
    parser.add_argument("--choices", nargs="+", default=None, metavar="RUN_DIR",
                        help="the runs settings were chosen on (folds of the training goals): their figures replace the "
                             "summary's earlier ones and get a section of the page")
    parser.add_argument("--replace", action="store_true",
                        help="with --benchmarks: drop the summary's earlier figures of those benchmarks, keep only runs/compare's")
    args = parser.parse_args()
    from train.configs import EXPERIMENTS

    for name in (args.only or []) + args.rerun:
        if name not in EXPERIMENTS:
            raise SystemExit(f"unknown experiment {name!r}; valid names: {sorted(EXPERIMENTS)}")
    summary = {"format": "icrl-results-summary/1", "experiments": {}}
    if os.path.exists(SUMMARY):
        with open(SUMMARY) as f:
            summary = json.load(f)
    for name in args.benchmarks:
        earlier = None if args.replace else summary.get("benchmarks", {}).get(name)
        summary.setdefault("benchmarks", {})[name] = gather_benchmark(name, args.seeds, earlier)
    if args.preset_times:
        summary["preset_times"] = read_preset_times(args.preset_times)
    if args.choices:
        summary["choices"] = gather_choices(args.choices)
    if args.benchmarks or args.preset_times or args.choices:
        with open(SUMMARY, "w") as f:
            json.dump(summary, f, indent=1, allow_nan=False)
    if not (args.render_only or args.benchmarks or args.preset_times or args.choices):
        names = args.only or ORDER
        fresh = run_all(names, args.seeds, set(args.rerun))
        summary["experiments"].update(fresh["experiments"])
        summary["experiments"] = {k: summary["experiments"][k] for k in ORDER if k in summary["experiments"]}
        with open(SUMMARY, "w") as f:
            json.dump(summary, f, indent=1, allow_nan=False)
    for name, exp in summary["experiments"].items():
        plot_results(aggregate_results(exp, name), os.path.join(DOCS, f"{name}.png"), size=(6.0, 3.8), dpi=90,
                     title=f"{name}: mean over {len(exp['seeds'])} training seed(s), held-out tasks")
    text, _ = render(summary)
    with open(PAGE, "w") as f:
        f.write(text)
    with open(README) as f:
        readme = readme_with_table(f.read(), render_readme_table(summary)[0])
    with open(README, "w") as f:
        f.write(readme)
    print(PAGE)
    print(README)


if __name__ == "__main__":
    main()
