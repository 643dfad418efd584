"""What ``python -m train list`` prints: every preset (:mod:`train.presets`), grouped by the environment it runs on
and, for the common benchmarks, by benchmark; without importing JAX (a plug-in's own imports aside)."""

from __future__ import annotations

#: The command that runs the classic algorithms on every environment.
BASELINES = "the classic algorithms (UCB, Thompson, LinUCB, Q-learning, PSRL, ...) on every environment"
#: A group's title: an environment's name, or a common benchmark's (its presets' rows of one table).
TITLES = {
    "bernoulli-bandit": "5-arm Bernoulli bandits",
    "linear-bandit": "linear bandits",
    "darkroom": "Dark Room",
    "keydoor": "Dark Key-to-Door",
    "bayesopt": "Bayesian optimisation",
    "darkroom9": "the common benchmark: Dark Room 9x9, 20-step episodes (python -m train compare darkroom9)",
    "keydoor9": "the common benchmark: Key-to-Door 9x9, 50-step episodes (python -m train compare keydoor9)",
    "biasedroom9": "ICEE's biased Dark Room 9x9 (python -m train compare biasedroom9)",
    "darkroom20": "Dark Room 20x20, 400-step episodes: RA-DT and its controls (python -m train compare darkroom20)",
}


def _group(preset) -> str:
    """A preset's group: its benchmark, or the environment it runs on."""
    if preset.benchmark:
        return preset.benchmark
    config = preset.config
    return config.get("env", "bernoulli-bandit") if isinstance(config, dict) else config.env


def listing() -> str:
    """Every preset with its description, grouped (the built-in groups in :data:`TITLES`' order, then the
    plug-ins'), and how to run, evaluate, compare and get help."""
    from train.presets import every

    presets = every().values()
    width = max(len(p.name) for p in presets)
    groups: dict[str, list] = {}
    for preset in presets:
        groups.setdefault(_group(preset), []).append(preset)
    lines = ["usage: python -m train NAME [--flags]     run an experiment (python -m train NAME --help: its flags)",
             "       python -m train eval RUN_DIR [...]   evaluate a saved run again, without training",
             "       python -m train compare BENCHMARK    every method of darkroom9, keydoor9, biasedroom9 or darkroom20 in one table",
             f"       python -m train baselines            {BASELINES}",
             "       python -m train list                 this list"]
    order = [g for g in TITLES if g in groups] + [g for g in groups if g not in TITLES]  # a plug-in's groups last
    for group in order:
        members = groups[group]
        lines += ["", TITLES.get(group, group) + ":"]
        lines += [f"  {p.name:<{width}}  {p.description}" for p in members]
    return "\n".join(lines)
