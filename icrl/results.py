"""The results format (``icrl-results/1``): its schema, reading it back, and its summaries and tables.

A results dict (and ``results.json``)::

    {
      "schema": "icrl-results/1",
      "env": {"name", "kwargs", "num_actions", "obs_shape", "horizon"},
      "split": "test", "num_tasks": int, "num_steps": int, "seed": int,
      "checkpoint": str | null,
      "methods": {
        NAME: {                                # bandits
          "cumulative_regret": [float] * num_steps,       # mean over tasks, per step
          "cumulative_regret_ci95": [float] * num_steps,  # 95% CI half-width
          "simple_regret": [float] * num_steps,           # best arm less the best pulled so far
          "simple_regret_ci95": [float] * num_steps}
        NAME: {                                # grid worlds
          "episode_return": [float] * num_episodes,       # mean over tasks, per episode
          "episode_return_ci95": [float] * num_episodes,
          "optimal_return": float,             # mean optimal return of the tasks
          "episode_fraction": [float] * num_episodes,     # mean over tasks of return / the task's optimal return (1 where that is 0)
          "episode_fraction_ci95": [float] * num_episodes}  # (absent from results made before it was recorded;
      },                                                  #  these three absent where the optimum is unknown)
      "optimal_return": float,                 # grid worlds whose optimum is known
      "offline": {NAME: {"suboptimality": float, "suboptimality_ci95": float}}  # bandits, optional
    }

plus whatever the caller adds: an experiment adds its name, its full ``config``, timings and
``provenance: {commit, dirty, record_sha256, devices, versions}`` (:func:`provenance`).
``num_steps`` counts environment steps of the evaluation rollout.
"""

from __future__ import annotations

import json
import os

SCHEMA = "icrl-results/1"
#: Environments whose terminal table shows simple regret beside cumulative regret (Bayesian optimisation: its measure).
SIMPLE_REGRET_ENVS = ("bayesopt",)
#: What a results file's methods report: per-step cumulative regret, or return per episode.
REGRET, RETURN = "regret", "return"


#: Tracked files a run never reads (git pathspecs): editing them while runs go does not mark the runs' code as changed.
DOC_PATHS = ("*.md", "*.png", "docs/results.json")


def code_version(root: str | None = None) -> dict:
    """The git commit of the code that is running (``None`` outside a git checkout) and whether
    its tree held uncommitted changes to tracked files other than the documentation (Markdown pages,
    images and the results summary, :data:`DOC_PATHS`), which no run reads."""
    import subprocess

    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 *(f":(exclude){p}" for p in DOC_PATHS)], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def record_hash(record: dict) -> str:
    """SHA-256 of a checkpoint record (its canonical JSON): ties a result to the run whose
    checkpoints carry that record."""
    import hashlib

    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def library_versions() -> dict:
    """The versions of the libraries a run's figures depend on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "flax", "optax", "gymnax"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def provenance(record: dict, devices: str | None = None) -> dict:
    """What a results file records of what made it: the code's commit (and whether its tree was
    dirty), the hash of the checkpoint record of the run evaluated (:func:`record_hash`), the
    devices it trained on (``"2 cpu"``; None where unknown) and the library versions."""
    return {**code_version(), "record_sha256": record_hash(record), "devices": devices, "versions": library_versions()}


def load_results(path: str) -> dict:
    """Read and check a results file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no results file at {path!r}")
    try:
        with open(path) as f:
            results = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path!r} is not valid JSON: {err}") from None
    if results.get("schema") != SCHEMA or "methods" not in results:
        raise ValueError(f"{path!r} is not an icrl results file (expected schema {SCHEMA!r})")
    return results


def save_results(results: dict, path: str) -> str:
    """Write ``results`` as JSON (strict: no NaN literals) to ``path``; returns ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1, allow_nan=False)
    return path


def kind(results: dict) -> str:
    """:data:`REGRET` (bandits) or :data:`RETURN` (episodic grid worlds)."""
    first = next(iter(results["methods"].values()))
    return REGRET if "cumulative_regret" in first else RETURN


def summary(results: dict) -> dict[str, dict]:
    """The headline figure of every method: the final cumulative regret (bandits), or the
    first and last episode's return (grid worlds), each with its 95% CI half-width."""
    out = {}
    for name, m in results["methods"].items():
        if kind(results) == REGRET:
            out[name] = {"final_regret": m["cumulative_regret"][-1], "final_regret_ci95": m["cumulative_regret_ci95"][-1]}
            if "simple_regret" in m:  # results made before simple regret was recorded have none
                out[name].update(final_simple_regret=m["simple_regret"][-1], final_simple_regret_ci95=m["simple_regret_ci95"][-1])
        else:
            r, ci = m["episode_return"], m["episode_return_ci95"]
            out[name] = {"first_return": r[0], "last_return": r[-1], "last_return_ci95": ci[-1], "num_episodes": len(r)}
    return out


def _tasks(results: dict) -> str:
    what = "held-out tasks" if results.get("split", "test") == "test" else f"{results['split']}-split tasks"
    return what + (f" ({results['num_goals']} goals)" if "num_goals" in results else "")


def format_table(results: dict) -> str:
    """The terminal table of a results dict."""
    rows = summary(results)
    width = max(16, 2 + max(len(name) for name in rows))
    if kind(results) == REGRET:
        steps = len(next(iter(results["methods"].values()))["cumulative_regret"])
        simple = results.get("env", {}).get("name") in SIMPLE_REGRET_ENVS and "final_simple_regret" in next(iter(rows.values()))
        lines = [f"cumulative regret on {results['num_tasks']} {_tasks(results)} at step {steps} (mean ± 95% CI)"
                 + (", and simple regret (the best arm less the best pulled)" if simple else "")]
        lines += [f"  {name:<{width}}{r['final_regret']:8.2f} ± {r['final_regret_ci95']:5.2f}"
                  + (f"   simple {r['final_simple_regret']:.4f} ± {r['final_simple_regret_ci95']:.4f}" if simple else "")
                  for name, r in rows.items()]
        for name, m in results.get("offline", {}).items():
            lines.append(f"  offline {name:<16}suboptimality {m['suboptimality']:.4f} ± {m['suboptimality_ci95']:.4f}")
    else:
        optimal = results.get("optimal_return")
        lines = [f"return per episode on {results['num_tasks']} {_tasks(results)}"
                 + (f" (optimal {optimal:.2f})" if optimal is not None else " (optimal unknown)")]
        lines += [
            f"  {name:<{width}}first {r['first_return']:7.2f}   last {r['last_return']:7.2f}   ({r['num_episodes']} episodes)"
            for name, r in rows.items()
        ]
    return "\n".join(lines)
